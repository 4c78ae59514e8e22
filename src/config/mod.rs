//! Configuration: `config/deploy.yml` (+ destination file, ERB, secrets) → [`Config`].

mod diagnostic;
mod erb;
mod model;
mod node;
mod resolve;
mod schema;
mod source;
mod yaml;

pub use diagnostic::{Code, ConfigDiagnostic, ConfigError, Problem};
pub use model::*;
pub use source::{FileId, SourceFile, Sources, Span};
