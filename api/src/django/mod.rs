//! Moving over from Django: verifying Django's password hashes ([`hashers`]) and importing
//! Django's users ([`import`]).

pub mod hashers;
pub mod import;
