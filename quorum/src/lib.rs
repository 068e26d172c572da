//! kraft-quorum
