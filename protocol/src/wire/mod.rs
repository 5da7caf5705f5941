//! The frame codec: `<COMMAND,arg,arg,...>` with backslash escaping.
//! (Being written: see the module docs once filled in.)
