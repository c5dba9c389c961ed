//! Chapter 3 (work in progress).
