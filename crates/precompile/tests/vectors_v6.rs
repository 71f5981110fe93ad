//! Precompile v6's golden vectors, `testdata/vectors/precompile-v6/` (see `vector_suite`).
//!
//! `cargo test -p aiop-precompile --test vectors_v6 -- --ignored` writes vectors that do not
//! exist yet and refuses to change a published one.

mod common;
mod vector_suite;

use aiop_precompile::PrecompileSpec;

#[test]
#[ignore = "writes testdata/vectors/precompile-v6; run by hand to add vectors"]
fn generate_precompile_v6_vectors() {
    vector_suite::generate(PrecompileSpec::V6);
}

#[test]
fn precompile_v6_vectors_match_on_every_kernel_path() {
    vector_suite::check(PrecompileSpec::V6);
}
