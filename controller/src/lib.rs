//! kraft-controller
