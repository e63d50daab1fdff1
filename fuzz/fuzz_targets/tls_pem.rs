#![no_main]
// The client's reading of --cacert/--cert/--key and the server's --tls-cert/--tls-key.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    myriad::fuzzing::tls_pem(data);
    myriad_server::fuzzing::tls_pem(data);
});
