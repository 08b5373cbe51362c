//! The admin subcommands: one call to a running server's admin socket each, printed for people
//! or (`--json`) for scripts.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use server::admin::{AdminClient, proto};

use crate::cli::{
    BundleCommand, CaCommand, Command, EntryCommand, FederationCommand, NodeCommand, Target,
    TokenCommand,
};

type Failure = Box<dyn std::error::Error + Send + Sync>;

pub(crate) async fn run(command: Command) -> ExitCode {
    match dispatch(command).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("server: {error}");
            ExitCode::FAILURE
        }
    }
}

fn socket_of(target: &Target) -> Result<PathBuf, Failure> {
    if let Some(socket) = &target.admin_socket {
        return Ok(socket.clone());
    }
    let Some(config) = &target.config else {
        return Err("give --admin-socket or --config (or SPIFFE_SERVER_ADMIN_SOCKET)".into());
    };
    server::ServerConfig::load(config)?
        .admin_socket_path
        .ok_or_else(|| format!("{} sets no admin_socket_path", config.display()).into())
}

async fn client(target: &Target) -> Result<AdminClient, Failure> {
    let socket = socket_of(target)?;
    AdminClient::connect(&socket)
        .await
        .map_err(|e| format!("cannot reach the admin socket {}: {e}", socket.display()).into())
}

fn print(target: &Target, json: &Value, text: &str) {
    if target.json {
        println!("{json}");
    } else {
        print!("{text}");
    }
}

fn entry_json(entry: &proto::Entry) -> Value {
    json!({
        "id": entry.id,
        "spiffe_id": entry.spiffe_id,
        "parent_id": entry.parent_id,
        "selectors": entry.selectors,
        "x509_ttl_seconds": (entry.x509_ttl_seconds != 0).then_some(entry.x509_ttl_seconds),
        "jwt_ttl_seconds": (entry.jwt_ttl_seconds != 0).then_some(entry.jwt_ttl_seconds),
        "dns_names": entry.dns_names,
        "federates_with": entry.federates_with,
        "revision": entry.revision,
        "created_at": entry.created_at,
    })
}

fn entry_text(entry: &proto::Entry) -> String {
    let mut out = format!(
        "id:         {}\nspiffe_id:  {}\nparent_id:  {}\n",
        entry.id, entry.spiffe_id, entry.parent_id
    );
    for selector in &entry.selectors {
        out.push_str(&format!("selector:   {selector}\n"));
    }
    for trust_domain in &entry.federates_with {
        out.push_str(&format!("federates_with: {trust_domain}\n"));
    }
    out
}

fn node_json(node: &proto::Node) -> Value {
    json!({
        "spiffe_id": node.spiffe_id,
        "attestation": node.attestation,
        "selectors": node.selectors,
        "svid_expires_at": node.svid_expires_at,
        "created_at": node.created_at,
        "updated_at": node.updated_at,
    })
}

fn node_text(node: &proto::Node) -> String {
    format!(
        "{}  ({}, SVID until {})\n",
        node.spiffe_id, node.attestation, node.svid_expires_at
    )
}

/// One certificate as a PEM block.
fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

async fn dispatch(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Run(_) => Ok(ExitCode::FAILURE),
        Command::Token(TokenCommand::Create {
            target,
            ttl,
            agent_id,
        }) => {
            let token = client(&target)
                .await?
                .raw()
                .create_join_token(proto::CreateJoinTokenRequest {
                    ttl_seconds: ttl.as_secs(),
                    agent_id: agent_id.unwrap_or_default(),
                })
                .await?
                .into_inner();
            print(
                &target,
                &json!({"token": token.token, "agent_id": token.agent_id, "expires_at": token.expires_at}),
                &format!(
                    "token:      {}\nagent_id:   {}\nexpires_at: {}\n",
                    token.token, token.agent_id, token.expires_at
                ),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Node(NodeCommand::List { target }) => {
            let nodes = client(&target)
                .await?
                .raw()
                .list_nodes(proto::ListNodesRequest {})
                .await?
                .into_inner()
                .nodes;
            print(
                &target,
                &Value::Array(nodes.iter().map(node_json).collect()),
                &nodes.iter().map(node_text).collect::<String>(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Node(NodeCommand::Evict { target, spiffe_id }) => {
            let node = client(&target)
                .await?
                .raw()
                .evict_node(proto::EvictNodeRequest { spiffe_id })
                .await?
                .into_inner();
            print(
                &target,
                &node_json(&node),
                &format!("evicted {}", node_text(&node)),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Entry(EntryCommand::Create {
            target,
            spiffe_id,
            parent_id,
            selectors,
            x509_ttl,
            jwt_ttl,
            dns_names,
            federates_with,
        }) => {
            let entry = proto::Entry {
                spiffe_id,
                parent_id,
                selectors,
                x509_ttl_seconds: x509_ttl.map_or(0, |d| d.as_secs()),
                jwt_ttl_seconds: jwt_ttl.map_or(0, |d| d.as_secs()),
                dns_names,
                federates_with,
                ..proto::Entry::default()
            };
            let created = client(&target)
                .await?
                .raw()
                .create_entry(entry)
                .await?
                .into_inner();
            print(&target, &entry_json(&created), &entry_text(&created));
            Ok(ExitCode::SUCCESS)
        }
        Command::Entry(EntryCommand::List { target, parent_id }) => {
            let entries = client(&target)
                .await?
                .raw()
                .list_entries(proto::ListEntriesRequest {
                    parent_id: parent_id.unwrap_or_default(),
                })
                .await?
                .into_inner()
                .entries;
            let text = entries
                .iter()
                .map(entry_text)
                .collect::<Vec<_>>()
                .join("\n");
            print(
                &target,
                &Value::Array(entries.iter().map(entry_json).collect()),
                &text,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Entry(EntryCommand::Show { target, id }) => {
            let entry = client(&target)
                .await?
                .raw()
                .get_entry(proto::GetEntryRequest { id })
                .await?
                .into_inner();
            print(&target, &entry_json(&entry), &entry_text(&entry));
            Ok(ExitCode::SUCCESS)
        }
        Command::Entry(EntryCommand::Update {
            target,
            id,
            spiffe_id,
            parent_id,
            selectors,
            x509_ttl,
        }) => {
            let mut admin = client(&target).await?;
            let mut entry = admin
                .raw()
                .get_entry(proto::GetEntryRequest { id })
                .await?
                .into_inner();
            if let Some(spiffe_id) = spiffe_id {
                entry.spiffe_id = spiffe_id;
            }
            if let Some(parent_id) = parent_id {
                entry.parent_id = parent_id;
            }
            if !selectors.is_empty() {
                entry.selectors = selectors;
            }
            if let Some(ttl) = x509_ttl {
                entry.x509_ttl_seconds = ttl.as_secs();
            }
            let updated = admin.raw().update_entry(entry).await?.into_inner();
            print(&target, &entry_json(&updated), &entry_text(&updated));
            Ok(ExitCode::SUCCESS)
        }
        Command::Ca(command) => ca(command).await,
        Command::Federation(command) => federation(command).await,
        Command::Entry(EntryCommand::Delete { target, id }) => {
            client(&target)
                .await?
                .raw()
                .delete_entry(proto::DeleteEntryRequest { id: id.clone() })
                .await?;
            print(&target, &json!({"deleted": id}), &format!("deleted {id}\n"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Bundle(BundleCommand::Show { target, pem }) => {
            let bundle = client(&target)
                .await?
                .raw()
                .get_bundle(proto::GetBundleRequest {})
                .await?
                .into_inner();
            if pem {
                let trust_domain = spiffe_id::TrustDomain::parse(&bundle.trust_domain)?;
                let document = trust_bundle::SpiffeBundle::parse(trust_domain, &bundle.json)?;
                for authority in document.x509_bundle().authorities() {
                    print!("{}", pem_certificate(authority));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let document: Value = serde_json::from_str(&bundle.json)?;
            print(
                &target,
                &json!({"trust_domain": bundle.trust_domain, "sequence": bundle.sequence, "bundle": document}),
                &format!("{}\n", bundle.json),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck(target) => {
            let health = client(&target)
                .await?
                .raw()
                .health(proto::HealthRequest {})
                .await?
                .into_inner();
            let text = if health.ready {
                "ready\n".to_owned()
            } else {
                format!("not ready: {}\n", health.reason)
            };
            print(
                &target,
                &json!({"ready": health.ready, "reason": health.reason, "trust_domain": health.trust_domain}),
                &text,
            );
            Ok(if health.ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn authorities_output(target: &Target, authorities: &proto::Authorities) {
    let json = json!({
        "bundle_sequence": authorities.bundle_sequence,
        "authorities": authorities.authorities.iter().map(|a| json!({
            "kind": if a.kind() == proto::AuthorityKind::Jwt { "jwt" } else { "x509" },
            "id": a.id,
            "status": a.status,
            "not_before": a.not_before,
            "not_after": a.not_after,
        })).collect::<Vec<_>>(),
    });
    let text: String = authorities
        .authorities
        .iter()
        .map(|a| {
            let kind = if a.kind() == proto::AuthorityKind::Jwt {
                "jwt "
            } else {
                "x509"
            };
            format!("{kind}  {:<10} {}  until {}\n", a.status, a.id, a.not_after)
        })
        .collect();
    print(target, &json, &text);
}

async fn ca(command: CaCommand) -> Result<ExitCode, Failure> {
    let (target, authorities) = match command {
        CaCommand::List { target } => {
            let answer = client(&target)
                .await?
                .raw()
                .list_authorities(proto::ListAuthoritiesRequest {})
                .await?;
            (target, answer.into_inner())
        }
        CaCommand::Rotate {
            target,
            x509,
            jwt,
            prepare,
        } => {
            // Neither kind chosen: both (the API alone would run only the scheduled step).
            let both = !x509 && !jwt;
            let request = proto::RotateAuthoritiesRequest {
                x509: x509 || both,
                jwt: jwt || both,
                prepare_only: prepare,
            };
            let answer = client(&target)
                .await?
                .raw()
                .rotate_authorities(request)
                .await?;
            (target, answer.into_inner())
        }
        CaCommand::Taint { target, kind } => {
            let kind = match kind.as_str() {
                "x509" => proto::AuthorityKind::X509,
                "jwt" => proto::AuthorityKind::Jwt,
                other => return Err(format!("{other:?}: give x509 or jwt").into()),
            };
            let answer = client(&target)
                .await?
                .raw()
                .taint_authority(proto::TaintAuthorityRequest { kind: kind.into() })
                .await?;
            (target, answer.into_inner())
        }
        CaCommand::Revoke { target, id } => {
            let answer = client(&target)
                .await?
                .raw()
                .revoke_authority(proto::RevokeAuthorityRequest { id })
                .await?;
            (target, answer.into_inner())
        }
    };
    authorities_output(&target, &authorities);
    Ok(ExitCode::SUCCESS)
}

async fn federation(command: FederationCommand) -> Result<ExitCode, Failure> {
    let (target, answer) = match command {
        FederationCommand::List { target } => {
            let answer = client(&target)
                .await?
                .raw()
                .list_federation_relationships(proto::ListFederationRelationshipsRequest {})
                .await?;
            (target, answer.into_inner())
        }
        FederationCommand::ResetSequence {
            target,
            trust_domain,
        } => {
            let answer = client(&target)
                .await?
                .raw()
                .reset_federation_sequence(proto::ResetFederationSequenceRequest { trust_domain })
                .await?;
            (target, answer.into_inner())
        }
    };
    let json = json!({
        "relationships": answer.relationships.iter().map(|r| json!({
            "trust_domain": r.trust_domain,
            "endpoint": r.endpoint,
            "has_bundle": r.has_bundle,
            "sequence": r.sequence,
            "last_attempt": r.last_attempt,
            "last_success": r.last_success,
            "last_error": (!r.last_error.is_empty()).then_some(&r.last_error),
            "refused_sequence": r.refused_sequence,
            "consecutive_failures": r.consecutive_failures,
            "next_attempt": r.next_attempt,
        })).collect::<Vec<_>>(),
    });
    let text: String = answer
        .relationships
        .iter()
        .map(|r| {
            let held = r
                .sequence
                .map_or_else(|| "no sequence".to_owned(), |s| format!("sequence {s}"));
            let mut line = format!("{}  {held}  {}\n", r.trust_domain, r.endpoint);
            if !r.last_error.is_empty() {
                line.push_str(&format!(
                    "  last error: {} ({} in a row)\n",
                    r.last_error, r.consecutive_failures
                ));
            }
            if let Some(refused) = r.refused_sequence {
                line.push_str(&format!(
                    "  refused sequence {refused} (lower than the one held; \
                     `server federation reset-sequence {}` accepts it once)\n",
                    r.trust_domain
                ));
            }
            line
        })
        .collect();
    print(&target, &json, &text);
    Ok(ExitCode::SUCCESS)
}
