//! The one ACME account: registered once, stored sealed, reused by every call.

use instant_acme::Account;

use crate::adapters::acme::is_account_gone;
use crate::app::App;
use crate::error::Error;

const PURPOSE: &str = "acme-account";

/// Runs `step` with the account; if the CA no longer knows the account (a
/// restarted test CA, a deactivated account), registers a new one, replaces
/// the stored credentials and runs `step` once more.
pub async fn with_account<T, F, Fut>(app: &App, mut step: F) -> Result<T, Error>
where
    F: FnMut(Account) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let (account, sealed) = current(app).await?;
    match step(account).await {
        Err(e) if is_account_gone(&e) => {
            tracing::warn!(
                "the ACME server no longer knows the stored account; registering a new one"
            );
            let (account, sealed) = load_or_register(app, Some(&sealed)).await?;
            *app.account.write().await = Some((account.clone(), sealed));
            step(account).await
        }
        other => other,
    }
}

async fn current(app: &App) -> Result<(Account, String), Error> {
    if let Some(found) = app.account.read().await.clone() {
        return Ok(found);
    }
    let mut slot = app.account.write().await;
    if let Some(found) = slot.clone() {
        return Ok(found);
    }
    let loaded = load_or_register(app, None).await?;
    *slot = Some(loaded.clone());
    Ok(loaded)
}

/// Connects with the stored credentials, or registers when there are none
/// (or only the `stale` ones). Two containers racing to register both
/// succeed at the CA, but only one account is stored and used from then on.
async fn load_or_register(app: &App, stale: Option<&str>) -> Result<(Account, String), Error> {
    let directory = &app.config.acme_directory_url;
    for _ in 0..3 {
        let stored = app.store.load_account(directory).await?;
        if let Some(sealed) = stored.as_deref().filter(|s| Some(*s) != stale) {
            let json = app.sealer.open(PURPOSE, directory, sealed).await?;
            return Ok((app.acme.connect(&json).await?, sealed.to_owned()));
        }
        let (account, json) = app.acme.register().await?;
        let sealed = app.sealer.seal(PURPOSE, directory, &json).await?;
        if app
            .store
            .store_account(directory, &sealed, stored.as_deref())
            .await?
        {
            tracing::info!(account_id = account.id(), "registered an ACME account");
            return Ok((account, sealed));
        }
    }
    Err(Error::Internal(
        "could not settle on one ACME account".into(),
    ))
}
