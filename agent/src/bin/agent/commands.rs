//! The admin subcommands: find the admin socket, make one call, print the answer.

use std::path::PathBuf;
use std::process::ExitCode;

use agent::AgentConfig;
use agent::admin::{AdminClient, proto};
use tonic::Status;

use crate::cli::{
    BundleCommand, CaCommand, Command, EntryCommand, EntryFields, FederationCommand, Kind, Target,
};
use crate::output;

/// Runs one admin subcommand; prints the result, or the error and what to do, and returns the
/// exit code (0 done, 1 refused or failed).
pub(crate) async fn run(command: Command) -> ExitCode {
    match dispatch(command).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("agent: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Run(_) => Err("internal: `run` is not an admin command".to_owned()),
        Command::Entry(command) => entry(command).await,
        Command::Bundle(BundleCommand::Show(target)) => {
            let mut admin = connect(&target).await?;
            let bundle = admin
                .grpc()
                .get_bundle(proto::GetBundleRequest {})
                .await
                .map_err(|s| refused("bundle show", &s))?
                .into_inner();
            // The document is JSON already: the same bytes either way.
            println!("{}", bundle.json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Ca(command) => ca(command).await,
        Command::Federation(command) => federation(command).await,
        Command::Healthcheck(target) => {
            let mut admin = connect(&target).await?;
            let health = admin
                .grpc()
                .health(proto::HealthRequest {})
                .await
                .map_err(|s| refused("healthcheck", &s))?
                .into_inner();
            if target.json {
                print_json(&serde_json::json!({
                    "ready": health.ready,
                    "reason": (!health.ready).then_some(&health.reason),
                    "trust_domain": health.trust_domain,
                    "entries": health.entries,
                    "open_streams": health.open_streams,
                }));
            } else if health.ready {
                println!(
                    "ready: {} entries, {} open streams ({})",
                    health.entries, health.open_streams, health.trust_domain
                );
            } else {
                println!("not ready: {}", health.reason);
            }
            Ok(if health.ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn entry(command: EntryCommand) -> Result<ExitCode, String> {
    match command {
        EntryCommand::Create { target, fields } => {
            let mut message = proto::Entry::default();
            apply(&mut message, fields)?;
            if message.spiffe_id.is_empty() || message.selectors.is_empty() {
                return Err("entry create needs --spiffe-id and at least one --selector".to_owned());
            }
            let mut admin = connect(&target).await?;
            let created = admin
                .grpc()
                .create_entry(proto::CreateEntryRequest {
                    entry: Some(message),
                })
                .await
                .map_err(|s| refused("entry create", &s))?
                .into_inner();
            print_entry(&target, &created);
        }
        EntryCommand::List { target, spiffe_id } => {
            let mut admin = connect(&target).await?;
            let list = admin
                .grpc()
                .list_entries(proto::ListEntriesRequest {
                    spiffe_id: spiffe_id.unwrap_or_default(),
                })
                .await
                .map_err(|s| refused("entry list", &s))?
                .into_inner();
            if target.json {
                print_json(&serde_json::Value::Array(
                    list.entries.iter().map(output::entry_json).collect(),
                ));
            } else {
                print!("{}", output::entries_text(&list.entries));
            }
        }
        EntryCommand::Show { target, id } => {
            let mut admin = connect(&target).await?;
            let found = admin
                .grpc()
                .get_entry(proto::GetEntryRequest { id })
                .await
                .map_err(|s| refused("entry show", &s))?
                .into_inner();
            print_entry(&target, &found);
        }
        EntryCommand::Update { target, id, fields } => {
            let mut admin = connect(&target).await?;
            let mut current = admin
                .grpc()
                .get_entry(proto::GetEntryRequest { id })
                .await
                .map_err(|s| refused("entry update", &s))?
                .into_inner();
            apply(&mut current, fields)?;
            let updated = admin
                .grpc()
                .update_entry(proto::UpdateEntryRequest {
                    entry: Some(current),
                })
                .await
                .map_err(|s| refused("entry update", &s))?
                .into_inner();
            print_entry(&target, &updated);
        }
        EntryCommand::Delete { target, id } => {
            let mut admin = connect(&target).await?;
            let deleted = admin
                .grpc()
                .delete_entry(proto::DeleteEntryRequest { id })
                .await
                .map_err(|s| refused("entry delete", &s))?
                .into_inner();
            if target.json {
                print_json(&output::entry_json(&deleted));
            } else {
                println!("deleted {} ({})", deleted.id, deleted.spiffe_id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn ca(command: CaCommand) -> Result<ExitCode, String> {
    let (target, what, authorities) = match command {
        CaCommand::List(target) => {
            let mut admin = connect(&target).await?;
            let reply = admin
                .grpc()
                .list_authorities(proto::ListAuthoritiesRequest {})
                .await;
            (target, "ca list", reply)
        }
        CaCommand::Rotate {
            target,
            x509,
            jwt,
            scheduled,
            prepare,
        } => {
            // No kind named: both, unless only the schedule was asked for.
            let both = !x509 && !jwt && !scheduled;
            let mut admin = connect(&target).await?;
            let reply = admin
                .grpc()
                .rotate_authorities(proto::RotateAuthoritiesRequest {
                    x509: x509 || both,
                    jwt: jwt || both,
                    prepare_only: prepare,
                })
                .await;
            (target, "ca rotate", reply)
        }
        CaCommand::Taint { target, kind } => {
            let mut admin = connect(&target).await?;
            let kind = match kind {
                Kind::X509 => proto::AuthorityKind::X509,
                Kind::Jwt => proto::AuthorityKind::Jwt,
            };
            let reply = admin
                .grpc()
                .taint_authority(proto::TaintAuthorityRequest { kind: kind.into() })
                .await;
            (target, "ca taint", reply)
        }
        CaCommand::Revoke { target, id } => {
            let mut admin = connect(&target).await?;
            let reply = admin
                .grpc()
                .revoke_authority(proto::RevokeAuthorityRequest { id })
                .await;
            (target, "ca revoke", reply)
        }
    };
    let authorities = authorities.map_err(|s| refused(what, &s))?.into_inner();
    if target.json {
        print_json(&output::authorities_json(&authorities));
    } else {
        print!("{}", output::authorities_text(&authorities));
    }
    Ok(ExitCode::SUCCESS)
}

async fn federation(command: FederationCommand) -> Result<ExitCode, String> {
    let (target, reply) = match command {
        FederationCommand::List(target) => {
            let mut admin = connect(&target).await?;
            let reply = admin
                .grpc()
                .list_federation_relationships(proto::ListFederationRelationshipsRequest {})
                .await
                .map_err(|s| refused("federation list", &s))?;
            (target, reply)
        }
        FederationCommand::ResetSequence {
            target,
            trust_domain,
        } => {
            let mut admin = connect(&target).await?;
            let reply = admin
                .grpc()
                .reset_federation_sequence(proto::ResetFederationSequenceRequest { trust_domain })
                .await
                .map_err(|s| refused("federation reset-sequence", &s))?;
            (target, reply)
        }
    };
    let relationships = reply.into_inner();
    if target.json {
        print_json(&output::relationships_json(&relationships));
    } else {
        print!("{}", output::relationships_text(&relationships));
    }
    Ok(ExitCode::SUCCESS)
}

/// Sets the fields given on the command line; repeated options replace their whole list.
fn apply(message: &mut proto::Entry, fields: EntryFields) -> Result<(), String> {
    let seconds = |field: &str, text: &str| -> Result<u64, String> {
        agent::parse_duration(text)
            .map(|d| d.as_secs())
            .ok_or_else(|| format!("--{field} {text:?}: a duration like 90s, 10m, 1h or 1d"))
    };
    if let Some(id) = fields.spiffe_id {
        message.spiffe_id = id;
    }
    if !fields.selectors.is_empty() {
        message.selectors = fields.selectors;
    }
    if let Some(parent) = fields.parent_id {
        message.parent_id = parent;
    }
    if let Some(ttl) = fields.x509_ttl {
        message.x509_ttl_seconds = seconds("x509-ttl", &ttl)?;
    }
    if let Some(ttl) = fields.jwt_ttl {
        message.jwt_ttl_seconds = seconds("jwt-ttl", &ttl)?;
    }
    if !fields.dns_names.is_empty() {
        message.dns_names = fields.dns_names;
    }
    if let Some(hint) = fields.hint {
        message.hint = hint;
    }
    if !fields.federates_with.is_empty() {
        message.federates_with = fields.federates_with;
    }
    Ok(())
}

/// The admin socket: `--admin-socket`, else the config's `admin_socket_path`.
async fn connect(target: &Target) -> Result<AdminClient, String> {
    let path: PathBuf = match (&target.admin_socket, &target.config) {
        (Some(path), _) => path.clone(),
        (None, Some(config)) => AgentConfig::load(config)
            .map_err(|e| e.to_string())?
            .admin_socket_path
            .ok_or_else(|| {
                format!(
                    "{} has no admin_socket_path: set it (and restart the agent) or pass --admin-socket",
                    config.display()
                )
            })?,
        (None, None) => {
            return Err(
                "which agent? pass --config <agent.toml> or --admin-socket <path> (or set SPIFFE_AGENT_CONFIG)"
                    .to_owned(),
            );
        }
    };
    AdminClient::connect(&path).await.map_err(|error| {
        let cause = std::error::Error::source(&error)
            .map(ToString::to_string)
            .unwrap_or_else(|| error.to_string());
        format!(
            "cannot reach the agent's admin socket {}: {cause} (is the agent running with admin_socket_path set, and may this user open the socket?)",
            path.display()
        )
    })
}

/// A refused or failed call, as one line: what, why, and the agent's words.
fn refused(what: &str, status: &Status) -> String {
    format!("{what}: {:?}: {}", status.code(), status.message())
}

fn print_entry(target: &Target, entry: &proto::Entry) {
    if target.json {
        print_json(&output::entry_json(entry));
    } else {
        print!("{}", output::entry_text(entry));
    }
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
