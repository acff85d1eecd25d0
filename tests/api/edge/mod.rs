//! The HTTP edge under attack: characters PostgreSQL cannot store (NUL), slow and silent
//! clients, too many connections, missing or doubled `Host`, and error bodies that would
//! echo huge input back. Each is answered the same way on both backends, with a 4xx and
//! a stable code, never a 5xx.

mod nul;
