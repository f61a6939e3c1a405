//! `sealform`: the one binary. Parses the command line, loads the configuration and wires the crates together.

mod admin;
mod api_key;
mod audit;
mod cli;
mod config;
mod data_dir;
mod demo;
mod keys;
mod logging;
mod mail;
mod serve;
mod stores;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line naming the problem: no panic, no backtrace, no secrets (messages are built to be safe).
            eprintln!("error: {}", one_line(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(args) => {
                let config = config::Config::load(&cli.global, &args)?;
                logging::init(&config.logging)?;
                serve::run(config).await
            }
            cli::Command::Demo(args) => {
                let config = config::Config::load(&cli.global, &args)?;
                logging::init(&config.logging)?;
                demo::seed(&config).await?;
                serve::run(config).await
            }
            cli::Command::Config(cli::ConfigCommand::Show(args)) => {
                let config = config::Config::load(&cli.global, &args)?;
                print!("{}", config.show()?);
                Ok(())
            }
            cli::Command::Admin(command) => {
                let config = config::Config::load(&cli.global, &cli::ServeArgs::default())?;
                logging::init_for_cli(&config.logging)?;
                admin::run(&config, command).await
            }
            cli::Command::Audit(command) => {
                let config = config::Config::load(&cli.global, &cli::ServeArgs::default())?;
                logging::init_for_cli(&config.logging)?;
                audit::run(&config, command).await
            }
            cli::Command::ApiKey(command) => {
                let config = config::Config::load(&cli.global, &cli::ServeArgs::default())?;
                logging::init_for_cli(&config.logging)?;
                api_key::run(&config, command).await
            }
            cli::Command::Keys(command) => {
                let config = config::Config::load(&cli.global, &cli::ServeArgs::default())?;
                logging::init_for_cli(&config.logging)?;
                keys::run(&config, command).await
            }
        }
    })
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
