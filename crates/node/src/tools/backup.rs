//! `paddock snapshot save FILE --server HOST:PORT`: a backup of a running server over
//! `paddock.v1.Admin/SaveSnapshot` (gRPC port), the way `etcdctl snapshot save` takes one.
//! The transfer, the `.part` file and the verification before FILE is replaced are the
//! client library's (`paddock_client::backup`), shared with `paddock-cli backup`.

use std::process::ExitCode;

pub use paddock_client::backup::{save, SaveOptions, Saved};

/// `paddock snapshot save`.
pub fn run(opts: &SaveOptions) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock snapshot save: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(save(opts)) {
        Ok(saved) => {
            println!("{}", paddock_client::backup::describe(&saved, opts));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paddock snapshot save: {e}");
            ExitCode::FAILURE
        }
    }
}
