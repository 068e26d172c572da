//! kraft-proto
