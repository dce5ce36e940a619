//! What holds for a hostname on either path: its claim, its release, its
//! DNS drift, and the views of where it stands.

pub mod announce;
pub mod claim;
pub mod drift;
pub mod metadata;
pub mod release;
pub mod status;
pub mod usage;
