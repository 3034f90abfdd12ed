//! greenmongo-runtime
