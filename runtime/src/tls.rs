//! TLS termination with rustls: the listener's certificate, and one more
//! per `sni` block, chosen by the name the client asks for (`*.example.org`
//! covers one label). Certificates are loaded and checked here, at start,
//! so a bad file is a clear startup error rather than a failure later.

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::listeners::TlsAccept;
use pingora_rustls::sign::CertifiedKey;
use pingora_rustls::{ClientHello, CryptoProvider, ResolvesServerCert};
use zbin::model::Tls;

use crate::artifact::Loaded;

/// Picks a certificate by SNI, the listener's own when none fits.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    /// Lowercase names; a leading `*.` covers one label.
    names: Vec<(String, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name().map(str::to_ascii_lowercase) else {
            return Some(self.default.clone());
        };
        let exact = self.names.iter().find(|(n, _)| *n == name);
        let wildcard = || {
            let (_, rest) = name.split_once('.')?;
            self.names.iter().find(|(n, _)| n.strip_prefix("*.") == Some(rest))
        };
        Some(
            exact
                .or_else(wildcard)
                .map_or_else(|| self.default.clone(), |(_, key)| key.clone()),
        )
    }
}

/// Loads a PEM certificate chain and its private key.
fn certified_key(cert: &str, key: &str) -> Result<Arc<CertifiedKey>, String> {
    let loaded = pingora_rustls::load_certs_and_key_files(cert, key)
        .map_err(|e| format!("cannot read certificate `{cert}` or key `{key}`: {e}"))?;
    let Some((certs, key_der)) = loaded else {
        return Err(format!("no certificate in `{cert}` or no private key in `{key}`"));
    };
    pingora_rustls::install_default_crypto_provider();
    let provider = CryptoProvider::get_default().ok_or("no TLS crypto provider")?;
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("unusable private key `{key}`: {e}"))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|e| format!("certificate `{cert}` does not belong to key `{key}`: {e}"))?;
    Ok(Arc::new(certified))
}

/// Accepts every handshake; certificates come from the resolver.
struct NoCallbacks;

#[async_trait]
impl TlsAccept for NoCallbacks {}

/// The TLS settings of one listener.
pub fn settings(loaded: &Loaded, tls: &Tls, http2: bool) -> Result<TlsSettings, String> {
    let path = |p: &str| loaded.resolve(p).display().to_string();
    let default = certified_key(&path(&tls.cert), &path(&tls.key))?;
    let mut names = Vec::new();
    for sni in &tls.sni {
        names.push((
            sni.host.to_ascii_lowercase(),
            certified_key(&path(&sni.cert), &path(&sni.key))?,
        ));
    }
    let mut settings = TlsSettings::with_callbacks(Box::new(NoCallbacks)).map_err(|e| e.to_string())?;
    settings.set_cert_resolver(Arc::new(SniResolver { default, names }));
    if http2 {
        settings.enable_h2();
    }
    Ok(settings)
}
