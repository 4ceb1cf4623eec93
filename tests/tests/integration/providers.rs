//! Real providers against loopback HTTP servers.
