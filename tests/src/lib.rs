//! Multi-node tests against real kraftd processes.
