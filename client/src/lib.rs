//! kraft-client
