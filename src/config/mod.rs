//! Configuration: `config/deploy.yml` (+ destination file, ERB, secrets) → [`Config`].

mod model;

pub use model::*;
