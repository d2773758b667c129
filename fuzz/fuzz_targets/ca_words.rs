#![no_main]
//! See src/fuzzing.rs: `acme_doctor::fuzzing::ca_words` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acme_doctor::fuzzing::ca_words(data);
});
