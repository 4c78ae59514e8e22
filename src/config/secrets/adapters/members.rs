//! A JSON object's members in the order the document lists them.
//!
//! `serde_json::Map` sorts its keys, but Kamal's answers keep the order the vendor printed
//! (`fetch`'s JSON lists secrets in that order, and `extract` takes the first key that ends
//! in `/NAME`), so objects whose order matters are read through [`Members`].

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// The members of a JSON object, in document order (nested values as `serde_json` reads them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Members(pub Vec<(String, Value)>);

impl Members {
    /// Parses `text` as a JSON object; `None` for any other JSON or for text that is not JSON.
    pub fn parse(text: &str) -> Option<Members> {
        serde_json::from_str(text).ok()
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members: Vec<(String, Value)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    // A repeated key keeps its first place and takes the later value (Ruby).
                    match members.iter_mut().find(|(existing, _)| *existing == key) {
                        Some(member) => member.1 = value,
                        None => members.push((key, value)),
                    }
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_the_document_order() {
        let members = Members::parse(r#"{"b": 1, "a": {"y": 2, "x": 3}, "b": 4}"#).expect("object");
        let keys: Vec<&str> = members.0.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(members.0[0].1, Value::from(4));
        assert_eq!(Members::parse("[1]"), None);
        assert_eq!(Members::parse("plain text"), None);
    }
}
