//! What the configuration fixtures under tests/fixtures/config/ need around them.

/// Fixed values for the ERB fixtures, for gantry and Kamal alike.
pub const ERB_ENV: &[(&str, &str)] = &[
    ("GANTRY_TEST_IMAGE", "erb/image"),
    ("GANTRY_TEST_HOST", "10.9.8.7"),
    ("GANTRY_TEST_PORT", "8080"),
    ("GANTRY_TEST_ECR_PASSWORD", "literal-password-from-env"),
    ("GANTRY_TEST_HOSTS", "10.0.0.1, 10.0.0.2"),
    ("GANTRY_TEST_ROLE", "Web"),
    ("GANTRY_TEST_EMPTY", ""),
];

/// Variables the ERB fixtures read as unset, whatever the machine has.
pub const ERB_UNSET: &[&str] = &[
    "GANTRY_TEST_UNSET",
    "GANTRY_TEST_SERVICE",
    "GANTRY_TEST_SSH_USER",
];
