//! Support of `stack_template.rs`: the templates under `deploy/` ([`templates`]) and the
//! properties checked on them ([`checks`]).

pub mod checks;
pub mod templates;
