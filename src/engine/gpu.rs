//! The GPU engine (being written).
