//! `fetch` and `watch`: the Workload API through `workload-client`.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use trust_bundle::{BundleSet, JwtBundle, SpiffeBundle, X509Bundle};
use workload_client::{Client, Endpoint, X509Context};
use zeroize::Zeroizing;

use crate::cli::{FetchArgs, FetchKind, SocketArgs, WatchArgs};
use crate::describe::{self, bundle_lines, certificate, certificate_lines};
use crate::error::Error;
use crate::write::{File, write_generation};

/// `--socket`: a Workload Endpoint address, or a plain absolute socket path.
pub(crate) fn endpoint(address: &str) -> Result<Endpoint, Error> {
    let parsed = if address.starts_with('/') {
        Endpoint::unix(address)
    } else {
        Endpoint::parse(address)
    };
    parsed.map_err(|source| Error::input(format!("--socket {address:?}"), source))
}

async fn connect(args: &SocketArgs) -> Result<Client, Error> {
    Client::builder(endpoint(&args.socket)?)
        .timeout(Duration::from_secs(args.timeout))
        .connect_timeout(Duration::from_secs(args.timeout))
        .connect()
        .await
        .map_err(|source| Error::WorkloadApi {
            what: "connect",
            source,
        })
}

fn api(what: &'static str) -> impl FnOnce(workload_client::Error) -> Error {
    move |source| Error::WorkloadApi { what, source }
}

/// `fetch x509 | jwt | bundles`.
pub(crate) async fn fetch(args: FetchArgs) -> Result<(), Error> {
    if matches!(args.what, FetchKind::Jwt) && args.audiences.is_empty() {
        return Err(Error::Usage(
            "fetch jwt needs at least one --audience".to_owned(),
        ));
    }
    let spinner = if args.json {
        None
    } else {
        crate::spinner::Spinner::start("waiting for the Workload API")
    };
    let client = connect(&args.socket).await?;
    let now = describe::now();
    let (mut value, mut lines, files) = match args.what {
        FetchKind::X509 => {
            let context = client
                .fetch_x509_context()
                .await
                .map_err(api("FetchX509SVID"))?;
            x509(&context, now)?
        }
        FetchKind::Jwt => {
            let svids = client
                .fetch_jwt_svids(&args.audiences, None)
                .await
                .map_err(api("FetchJWTSVID"))?;
            let bundles = client
                .fetch_jwt_bundles()
                .await
                .map_err(api("FetchJWTBundles"))?;
            jwt(&svids, &bundles, now)
        }
        FetchKind::Bundles => {
            let x509 = client
                .fetch_x509_bundles()
                .await
                .map_err(api("FetchX509Bundles"))?;
            let jwt = client
                .fetch_jwt_bundles()
                .await
                .map_err(api("FetchJWTBundles"))?;
            bundles(&merge(&x509, &jwt)?, now)
        }
    };
    drop(spinner);
    if let Some(dir) = &args.write {
        let written = write_generation(dir, &files)?;
        for path in &written {
            lines.push(format!("Wrote {}", path.display()));
        }
        if let Some(object) = value.as_object_mut() {
            let paths: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
            object.insert("written".to_owned(), json!(paths));
        }
    }
    describe::print(args.json, &value, &lines);
    Ok(())
}

type Output = (Value, Vec<String>, Vec<File>);

/// The summary of an X.509 context, and its files: the default SVID's chain, key and
/// `credential-bundle.pem`, its trust domain's authorities, and every trust domain's
/// authorities as `<td>.spiffe-trust-bundle.pem`.
fn x509(context: &X509Context, now: i64) -> Result<Output, Error> {
    let mut lines = Vec::new();
    let mut svids = Vec::new();
    for (index, svid) in context.svids().iter().enumerate() {
        let chain: Vec<Value> = svid
            .chain()
            .iter()
            .map(|der| certificate(der, now))
            .collect::<Result<_, _>>()?;
        if let Some(leaf) = chain.first() {
            lines.push(format!(
                "X.509-SVID #{index}{}{}",
                if index == 0 { " (default)" } else { "" },
                svid.hint()
                    .map(|h| format!(" hint {h:?}"))
                    .unwrap_or_default()
            ));
            lines.extend(certificate_lines(leaf, "  "));
            lines.push(format!("  Chain:       {} certificate(s)", chain.len()));
        }
        svids.push(json!({
            "spiffe_id": svid.spiffe_id().as_str(),
            "hint": svid.hint(),
            "key_type": format!("{:?}", svid.private_key().algorithm()),
            "chain": chain,
        }));
    }
    let bundles = describe::bundle_set(context.bundles(), now);
    for bundle in &bundles {
        lines.extend(bundle_lines(bundle));
    }
    let mut files = Vec::new();
    if let Some(svid) = context.default_svid() {
        let key = svid.private_key().to_pem();
        let chain = svid.chain_pem();
        let mut credential = Zeroizing::new(key.as_bytes().to_vec());
        credential.extend_from_slice(chain.as_bytes());
        files.push(File::public("svid.pem", chain.into_bytes()));
        files.push(File::secret(
            "svid_key.pem",
            Zeroizing::new(key.as_bytes().to_vec()),
        ));
        files.push(File::secret("credential-bundle.pem", credential));
        if let Some(own) = context
            .bundles()
            .get(svid.spiffe_id().trust_domain().as_str())
        {
            files.push(File::public("svid_bundle.pem", pem_of(own.x509_bundle())));
        }
    }
    for (trust_domain, bundle) in context.bundles().iter() {
        files.push(File::public(
            format!("{}.spiffe-trust-bundle.pem", trust_domain.as_str()),
            pem_of(bundle.x509_bundle()),
        ));
    }
    Ok((json!({ "svids": svids, "bundles": bundles }), lines, files))
}

/// The summary of JWT-SVIDs and JWT bundles, and their files: `jwt_svid.token` (the default
/// SVID, mode 0600) and `<td>.bundle.json`.
fn jwt(svids: &[workload_client::JwtSvid], bundles: &BundleSet, now: i64) -> Output {
    let mut lines = Vec::new();
    let mut values = Vec::new();
    for (index, svid) in svids.iter().enumerate() {
        let expiry = unix(svid.expires_at());
        lines.push(format!(
            "JWT-SVID #{index}{}: {}",
            if index == 0 { " (default)" } else { "" },
            svid.spiffe_id()
        ));
        lines.push(format!("  Audience:   {}", svid.audience().join(", ")));
        lines.push(format!(
            "  Expires:    {} ({})",
            describe::rfc3339(expiry),
            describe::time_left(expiry, now)
        ));
        if let Some(hint) = svid.hint() {
            lines.push(format!("  Hint:       {hint}"));
        }
        lines.push(format!("  Token:      {}", svid.token()));
        values.push(json!({
            "spiffe_id": svid.spiffe_id().as_str(),
            "audience": svid.audience(),
            "hint": svid.hint(),
            "expires_at": describe::rfc3339(expiry),
            "token": svid.token(),
        }));
    }
    let bundle_values = describe::bundle_set(bundles, now);
    for bundle in &bundle_values {
        lines.extend(bundle_lines(bundle));
    }
    let mut files = Vec::new();
    if let Some(svid) = svids.first() {
        files.push(File::secret(
            "jwt_svid.token",
            Zeroizing::new(svid.token().as_bytes().to_vec()),
        ));
    }
    files.extend(bundle_documents(bundles));
    (
        json!({ "svids": values, "bundles": bundle_values }),
        lines,
        files,
    )
}

/// The summary of every bundle, and its files: `<td>.bundle.json` (SPIFFE bundle document) and
/// `<td>.spiffe-trust-bundle.pem` (X.509 authorities).
fn bundles(set: &BundleSet, now: i64) -> Output {
    let values = describe::bundle_set(set, now);
    let lines = values.iter().flat_map(bundle_lines).collect();
    let mut files = bundle_documents(set);
    for (trust_domain, bundle) in set.iter() {
        files.push(File::public(
            format!("{}.spiffe-trust-bundle.pem", trust_domain.as_str()),
            pem_of(bundle.x509_bundle()),
        ));
    }
    (json!({ "bundles": values }), lines, files)
}

fn bundle_documents(set: &BundleSet) -> Vec<File> {
    set.iter()
        .map(|(trust_domain, bundle)| {
            File::public(
                format!("{}.bundle.json", trust_domain.as_str()),
                bundle.to_json().into_bytes(),
            )
        })
        .collect()
}

/// One bundle per trust domain with both halves.
fn merge(x509: &BundleSet, jwt: &BundleSet) -> Result<BundleSet, Error> {
    let mut domains: Vec<_> = x509
        .trust_domains()
        .chain(jwt.trust_domains())
        .cloned()
        .collect();
    domains.sort();
    domains.dedup();
    let merged = domains.into_iter().map(|td| {
        let x = x509.get(&td).map_or_else(
            || X509Bundle::new(td.clone()).into(),
            |b| b.x509_bundle().clone(),
        );
        let j = jwt.get(&td).map_or_else(
            || JwtBundle::new(td.clone()).into(),
            |b| b.jwt_bundle().clone(),
        );
        SpiffeBundle::from_parts(x, j)
    });
    let merged: Vec<SpiffeBundle> = merged
        .collect::<Result<_, _>>()
        .map_err(|source| Error::input("the agent's bundles do not combine", source))?;
    BundleSet::from_bundles(merged).map_err(|source| Error::input("the agent's bundles", source))
}

fn pem_of(bundle: &X509Bundle) -> Vec<u8> {
    crate::pem::certificates_pem(bundle.authorities().iter().map(AsRef::as_ref)).into_bytes()
}

fn unix(time: std::time::SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `watch`: one line (or JSON object) per X.509 update until SIGINT or SIGTERM; reconnects
/// with backoff (1 s doubling to 30 s) while the error is retryable.
pub(crate) async fn watch(args: WatchArgs) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let signal_error = |source| Error::Io {
        what: "cannot install the signal handlers".to_owned(),
        source,
    };
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
    let client = Client::builder(endpoint(&args.socket.socket)?)
        .timeout(Duration::from_secs(args.socket.timeout))
        .connect_lazy()
        .map_err(api("connect"))?;
    let mut backoff = Duration::from_secs(1);
    let mut spinner = if args.json {
        None
    } else {
        crate::spinner::Spinner::start("waiting for the first X.509-SVID")
    };
    loop {
        let run = watch_once(&client, args.json, &mut backoff, &mut spinner);
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            result = run => {
                let error = match result {
                    Ok(()) => continue,
                    Err(error) => error,
                };
                match &error {
                    Error::WorkloadApi { source, .. } if source.is_retryable() => {
                        eprintln!("spiffekit: {} (retrying in {}s)", crate::error::chain(&error), backoff.as_secs());
                    }
                    _ => return Err(error),
                }
            }
        }
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One stream: prints every update; returns when the stream ends or fails.
async fn watch_once(
    client: &Client,
    json_mode: bool,
    backoff: &mut Duration,
    spinner: &mut Option<crate::spinner::Spinner>,
) -> Result<(), Error> {
    let mut stream = client
        .watch_x509_context()
        .await
        .map_err(api("FetchX509SVID"))?;
    while let Some(update) = stream.next().await {
        let context = update.map_err(api("FetchX509SVID"))?;
        *backoff = Duration::from_secs(1);
        drop(spinner.take());
        println!("{}", update_line(&context, json_mode)?);
    }
    Ok(())
}

/// `<now> <id> serial <serial> notAfter <time> (<left>) bundles <td>[ seq N] ...`.
fn update_line(context: &X509Context, json_mode: bool) -> Result<String, Error> {
    let now = describe::now();
    let leaf = match context.default_svid() {
        Some(svid) => certificate(svid.leaf(), now)?,
        None => Value::Null,
    };
    let text = |key: &str| {
        leaf.get(key)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    let bundles: Vec<Value> = context
        .bundles()
        .iter()
        .map(|(td, b)| {
            json!({
                "trust_domain": td.as_str(),
                "authorities": b.x509_bundle().len(),
                "sequence": b.sequence(),
            })
        })
        .collect();
    if json_mode {
        return Ok(json!({
            "at": describe::rfc3339(now),
            "spiffe_id": leaf.get("spiffe_id"),
            "serial": leaf.get("serial"),
            "not_after": leaf.get("not_after"),
            "svids": context.svids().len(),
            "bundles": bundles,
        })
        .to_string());
    }
    let bundle_text: Vec<String> = context
        .bundles()
        .iter()
        .map(|(td, b)| match b.sequence() {
            Some(seq) => format!("{td}({} CAs, seq {seq})", b.x509_bundle().len()),
            None => format!("{td}({} CAs)", b.x509_bundle().len()),
        })
        .collect();
    Ok(format!(
        "{} {} serial {} notAfter {} ({}) bundles {}",
        describe::rfc3339(now),
        text("spiffe_id"),
        text("serial"),
        text("not_after"),
        text("time_left"),
        bundle_text.join(" "),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// A plain path is a Unix socket; a relative one is refused by the endpoint rules
    /// (shared/spec/SPIFFE-DIGEST.md, Workload Endpoint: absolute paths only).
    #[test]
    fn socket_addresses() {
        assert!(endpoint("/run/agent.sock").is_ok());
        assert!(endpoint("unix:///run/agent.sock").is_ok());
        assert!(matches!(
            endpoint("run/agent.sock"),
            Err(Error::Input { .. })
        ));
    }
}
