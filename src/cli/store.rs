//! `davit store verify [--repair]`: the update engine's store checked byte for byte.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use update::store::{DEFAULT_ROOT, Store};

#[derive(Args, Debug)]
pub struct StoreArgs {
    /// The store's directory
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    store: PathBuf,
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Subcommand, Debug)]
enum StoreCommand {
    /// Hash every blob and unpacked layer again; exit 1 if any is damaged
    Verify {
        /// Remove what is damaged (the next install stores it anew)
        #[arg(long)]
        repair: bool,
    },
}

pub fn store(a: StoreArgs) -> i32 {
    let StoreCommand::Verify { repair } = a.command;
    let result = Store::open(&a.store).and_then(|s| s.verify(repair));
    let found = match result {
        Ok(found) => found,
        Err(e) => {
            eprintln!("davit: error: store {}: {e}", a.store.display());
            return 1;
        }
    };
    for d in &found.damaged {
        let done = if d.removed { " (removed)" } else { "" };
        println!("damaged: {}: {}{done}", d.what, d.reason);
    }
    println!(
        "store {}: {} blobs, {} layers checked, {} damaged{}",
        a.store.display(),
        found.blobs,
        found.layers,
        found.damaged.len(),
        if repair && !found.damaged.is_empty() {
            ", removed"
        } else {
            ""
        }
    );
    i32::from(!found.damaged.is_empty() && !repair)
}
