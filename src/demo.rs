//! `sealform demo`: a demo organisation with an owner, the two example forms published, and a few submissions; then
//! the server, so a new user has something to click through at once. Running it again reuses what exists.

use std::collections::BTreeMap;

use anyhow::Context as _;
use sealform_core::admin::{self, OrganisationRequest};
use sealform_core::clock::{Clock as _, SystemClock};
use sealform_core::examples;
use sealform_core::forms::{change_form, create_form};
use sealform_core::keys::Keyring;
use sealform_core::org::OrgName;
use sealform_core::sealing::{Answers, NewAnswers, store_new_submission};
use sealform_core::store::Store;
use sealform_core::submission::{FormChange, FormStatus};
use sealform_crypto::Suite;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::stores::{Operator, operator_command};

const DEMO_ORG: &str = "Demo Clinic";
const DEMO_EMAIL: &str = "demo@sealform.example";
/// Where the demo password is kept (0600 in the private data dir), so a second run can show it again.
const PASSWORD_FILE: &str = "demo-password.txt";

/// Seeds the demo (once) and prints how to sign in and where the forms are.
pub(crate) async fn seed(config: &Config) -> anyhow::Result<()> {
    operator_command!(config, |store, op| seed_with(&store, config, &op).await)
}

async fn seed_with<S: Store>(store: &S, config: &Config, op: &Operator) -> anyhow::Result<()> {
    let password_path = config.data_dir.join(PASSWORD_FILE);
    let name = OrgName::parse(DEMO_ORG)?;
    let org = match store.organisation_by_name(&name).await? {
        Some(org) => org,
        None => {
            let (password, _) = sealform_crypto::new_token()?;
            let request = OrganisationRequest {
                name: DEMO_ORG,
                suite: Suite::HybridMlKem768X25519,
                owner_email: DEMO_EMAIL,
                password: SecretString::from(password.to_string()),
            };
            let master = op.masters.current().as_ref();
            let first = store.list_organisations().await?.is_empty();
            if first {
                admin::bootstrap(store, master, &SystemClock, op.audit(), request).await?;
            } else {
                admin::create_organisation(store, master, &SystemClock, op.audit(), request).await?;
            }
            crate::data_dir::write_private_file(&password_path, password.as_bytes())?;
            let org = store.organisation_by_name(&name).await?.context("the demo organisation was not created")?;
            seed_forms(store, op, org.id).await?;
            org
        }
    };
    let password = std::fs::read_to_string(&password_path).unwrap_or_else(|_| "(see demo-password.txt)".into());
    let base = config.public_url.trim_end_matches('/');
    println!("Demo organisation: {}", org.name);
    println!("  Sign in at {base}/login as {DEMO_EMAIL} with password {}", password.trim());
    for form in store.tenant(org.id).forms_of().await? {
        println!("  {}: {base}/f/{} (inbox: {base}/console/forms/{}/submissions)", form.title, form.id, form.id);
    }
    Ok(())
}

async fn seed_forms<S: Store>(store: &S, op: &Operator, org: sealform_core::ids::OrgId) -> anyhow::Result<()> {
    let master = op.masters.current().as_ref();
    let now = SystemClock.now();
    let keyring = Keyring::new(store.clone(), op.masters.clone());
    for (title, definition) in
        [("Patient intake", examples::patient_intake()), ("Consent to treatment", examples::consent())]
    {
        let id = create_form(store, master, op.audit(), org, title, definition.to_json(), now).await?;
        let publish = FormChange { status: Some(FormStatus::Published), ..FormChange::default() };
        let form = change_form(store, op.audit(), org, id, publish, now).await?;
        if title == "Patient intake" {
            let indexed = definition.indexed_paths();
            for answers in sample_intakes() {
                let new =
                    NewAnswers { org, form: id, form_version: form.version, answers: &answers, indexed: &indexed };
                store_new_submission(store, &keyring, op.audit(), new, now).await?;
            }
        }
    }
    Ok(())
}

/// Made-up patients (no real person's data).
fn sample_intakes() -> Vec<Answers> {
    let patients: [&[(&str, &str)]; 3] = [
        &[
            ("2_first", "Ada"),
            ("2_last", "Example"),
            ("3", "1985-04-12"),
            ("4", "ada@example.org"),
            ("6", "Annual check-up"),
            ("7", "No"),
            ("13", "1"),
        ],
        &[
            ("2_first", "Ben"),
            ("2_last", "Sample"),
            ("3", "1972-11-30"),
            ("4", "ben@example.org"),
            ("5", "+1 555 0100"),
            ("6", "Knee pain after a fall"),
            ("7", "Yes"),
            ("8", "Penicillin\nLatex"),
            ("13", "6"),
        ],
        &[
            ("2_first", "Chloé"),
            ("2_last", "Démo"),
            ("3", "1999-02-01"),
            ("4", "chloe@example.org"),
            ("6", "Follow-up on blood test results"),
            ("7", "No"),
            ("13", "0"),
        ],
    ];
    patients
        .iter()
        .map(|fields| {
            fields
                .iter()
                .map(|(path, value)| ((*path).to_owned(), Zeroizing::new(value.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>()
        })
        .collect()
}
