//! kraft-storage
