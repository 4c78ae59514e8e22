//! `--mount`'s CSV syntax (`type=bind,src=/srv,dst=/data,readonly`) as a [`Mount`], read the
//! way docker's CLI reads it (`cli/opts/mount.go`): keys are case-insensitive, `type` defaults to
//! `volume`, option groups exist only when one of their keys is given, and the same mistakes are
//! refused (unknown key, missing target, a group that does not fit the type).

use crate::model::{Mount, MountBindOptions, MountTmpfsOptions, MountVolumeOptions};

/// Parses one `--mount` value; the error says what docker would say.
pub fn parse_mount(value: &str) -> Result<Mount, String> {
    let mut mount = Mount {
        kind: "volume".to_string(),
        ..Mount::default()
    };
    for field in csv_fields(value)? {
        let (key, val) = match field.split_once('=') {
            Some((key, val)) => (key.to_ascii_lowercase(), Some(val.to_string())),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => mount.read_only = true,
                "volume-nocopy" => volume(&mut mount).no_copy = true,
                "bind-nonrecursive" => bind(&mut mount).non_recursive = true,
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        match key.as_str() {
            "type" => mount.kind = val.to_ascii_lowercase(),
            "source" | "src" => {
                // docker's CLI makes `./x` absolute against its own working directory, which
                // for Kamal is the SSH user's home on the host: not something to guess.
                if val.starts_with('.') {
                    return Err(format!(
                        "relative source `{val}`: write the absolute path on the host"
                    ));
                }
                mount.source = val;
            }
            "target" | "dst" | "destination" => mount.target = val,
            "readonly" | "ro" => mount.read_only = parse_bool(&key, &val)?,
            "consistency" => mount.consistency = Some(val.to_ascii_lowercase()),
            "bind-propagation" => bind(&mut mount).propagation = Some(val.to_ascii_lowercase()),
            "bind-nonrecursive" => bind(&mut mount).non_recursive = parse_bool(&key, &val)?,
            "bind-recursive" => {
                let options = bind(&mut mount);
                match val.as_str() {
                    "enabled" => {}
                    "disabled" => options.non_recursive = true,
                    "writable" => options.read_only_non_recursive = true,
                    "readonly" => options.read_only_force_recursive = true,
                    _ => {
                        return Err(format!(
                            "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                        ));
                    }
                }
            }
            "volume-subpath" => volume(&mut mount).subpath = Some(val),
            "volume-nocopy" => volume(&mut mount).no_copy = parse_bool(&key, &val)?,
            "volume-label" => {
                let (name, label) = val.split_once('=').unwrap_or((&val, ""));
                volume(&mut mount)
                    .labels
                    .insert(name.to_string(), label.to_string());
            }
            "volume-driver" => volume(&mut mount).driver = Some(val),
            "volume-opt" => {
                let (name, option) = val.split_once('=').unwrap_or((&val, ""));
                volume(&mut mount)
                    .driver_options
                    .insert(name.to_string(), option.to_string());
            }
            "image-subpath" => mount.image_subpath = Some(val),
            "tmpfs-size" => {
                tmpfs(&mut mount).size_bytes = Some(
                    super::ram_in_bytes(&val)
                        .ok_or_else(|| format!("invalid value for {key}: {val}"))?,
                )
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs(&mut mount).mode = Some(i64::from(mode));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    check(&mount)?;
    Ok(mount)
}

/// The CLI's checks once every field is read.
fn check(mount: &Mount) -> Result<(), String> {
    if mount.kind.is_empty() {
        return Err("type is required".to_string());
    }
    if mount.target.is_empty() {
        return Err("target is required".to_string());
    }
    let mixed = |group: &str| {
        format!(
            "cannot mix '{group}-*' options with mount type '{}'",
            mount.kind
        )
    };
    if mount.volume.is_some() && mount.kind != "volume" {
        return Err(mixed("volume"));
    }
    if mount.image_subpath.is_some() && mount.kind != "image" {
        return Err(mixed("image"));
    }
    if mount.bind.is_some() && mount.kind != "bind" {
        return Err(mixed("bind"));
    }
    if mount.tmpfs.is_some() && mount.kind != "tmpfs" {
        return Err(mixed("tmpfs"));
    }
    if let Some(bind) = &mount.bind
        && (bind.read_only_non_recursive || bind.read_only_force_recursive)
        && !mount.read_only
    {
        return Err(
            "option 'bind-recursive=writable' or 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"
                .to_string(),
        );
    }
    Ok(())
}

fn bind(mount: &mut Mount) -> &mut MountBindOptions {
    mount.bind.get_or_insert_with(MountBindOptions::default)
}

fn volume(mount: &mut Mount) -> &mut MountVolumeOptions {
    mount.volume.get_or_insert_with(MountVolumeOptions::default)
}

fn tmpfs(mount: &mut Mount) -> &mut MountTmpfsOptions {
    mount.tmpfs.get_or_insert_with(MountTmpfsOptions::default)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

/// One record of Go's `encoding/csv`: comma-separated fields, a field in double quotes may hold
/// commas, and `""` inside it is one quote.
fn csv_fields(value: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(format!("extraneous or missing \" in quoted-field: {value}"));
                    }
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err(format!("extraneous or missing \" in quoted-field: {value}"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(format!("bare \" in non-quoted-field: {value}"));
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_bind_mount_read_only_with_propagation() {
        assert_eq!(
            parse_mount("type=bind,src=/srv/data,dst=/data,readonly,bind-propagation=rshared"),
            Ok(Mount {
                kind: "bind".into(),
                source: "/srv/data".into(),
                target: "/data".into(),
                read_only: true,
                bind: Some(MountBindOptions {
                    propagation: Some("rshared".into()),
                    ..MountBindOptions::default()
                }),
                ..Mount::default()
            })
        );
    }

    #[test]
    fn a_volume_by_default_with_driver_options_and_labels() {
        assert_eq!(
            parse_mount(
                "source=cache,target=/cache,volume-nocopy,volume-label=team=web,\"volume-opt=o=size=64m,uid=1000\",volume-opt=type=tmpfs,volume-driver=local,volume-subpath=app"
            ),
            Ok(Mount {
                kind: "volume".into(),
                source: "cache".into(),
                target: "/cache".into(),
                volume: Some(MountVolumeOptions {
                    no_copy: true,
                    labels: BTreeMap::from([("team".into(), "web".into())]),
                    driver: Some("local".into()),
                    driver_options: BTreeMap::from([
                        ("o".into(), "size=64m,uid=1000".into()),
                        ("type".into(), "tmpfs".into()),
                    ]),
                    subpath: Some("app".into()),
                }),
                ..Mount::default()
            })
        );
    }

    #[test]
    fn a_tmpfs_with_size_and_octal_mode() {
        assert_eq!(
            parse_mount("type=tmpfs,destination=/scratch,tmpfs-size=64m,tmpfs-mode=1770"),
            Ok(Mount {
                kind: "tmpfs".into(),
                target: "/scratch".into(),
                tmpfs: Some(MountTmpfsOptions {
                    size_bytes: Some(64 << 20),
                    mode: Some(0o1770),
                }),
                ..Mount::default()
            })
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_readonly_takes_go_booleans() {
        let mount = parse_mount("Type=BIND,Source=/a,Target=/b,ro=0").expect("parses");
        assert_eq!((mount.kind.as_str(), mount.read_only), ("bind", false));
        assert!(
            parse_mount("type=bind,src=/a,dst=/b,ro=T")
                .expect("parses")
                .read_only
        );
        let recursive =
            parse_mount("type=bind,src=/a,dst=/b,readonly,bind-recursive=readonly").expect("ok");
        assert!(
            recursive
                .bind
                .expect("bind options")
                .read_only_force_recursive
        );
    }

    #[test]
    fn docker_s_refusals() {
        let refused = |value: &str| parse_mount(value).expect_err(value);
        assert_eq!(refused("type=bind,src=/a"), "target is required");
        assert_eq!(
            refused("type=bind,src=/a,dst=/b,size=1"),
            "unexpected key 'size' in 'size=1'"
        );
        assert_eq!(
            refused("type=bind,src=/a,dst=/b,nocopy"),
            "invalid field 'nocopy' must be a key=value pair"
        );
        assert_eq!(
            refused("type=bind,src=/a,dst=/b,volume-nocopy"),
            "cannot mix 'volume-*' options with mount type 'bind'"
        );
        assert_eq!(
            refused("type=volume,dst=/b,tmpfs-size=1m"),
            "cannot mix 'tmpfs-*' options with mount type 'volume'"
        );
        assert_eq!(
            refused("type=bind,src=/a,dst=/b,bind-recursive=writable"),
            "option 'bind-recursive=writable' or 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"
        );
        assert!(refused("type=bind,src=./a,dst=/b").contains("absolute path"));
        assert!(refused("type=tmpfs,dst=/b,tmpfs-mode=9").contains("tmpfs-mode"));
        assert!(refused("type=bind,src=/a\"b,dst=/b").contains("bare \""));
        assert!(refused("\"type=bind,src=/a,dst=/b").contains("quoted-field"));
    }
}
