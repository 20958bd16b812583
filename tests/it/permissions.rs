//! Effective permissions: one function (`Org::effective`), checked on the
//! cases that matter and snapshotted per fixture.

use crate::support::*;

#[test]
fn effective_permission_tables() {
    for name in builtin_names() {
        insta::assert_snapshot!(
            format!("permissions-{name}"),
            leakdrill::show::permission_table(&org(name))
        );
    }
}

#[test]
fn view_all_data_bypasses_sharing_but_not_field_level_security() {
    let org = org("global-ecommerce");
    let connector = org
        .user("commerce.connector@larkspur-vine.example.com")
        .unwrap();
    let eff = org.effective(connector);
    let pm = org.object("Payment_Method__c").unwrap();
    let access = eff.object("Payment_Method__c");
    assert!(
        access.read && access.view_all && access.modify_all,
        "Modify All Data implies every object"
    );
    let token = pm.field("Processor_Token__c").unwrap();
    assert!(
        !eff.field(pm, token).read,
        "FLS still hides fields not granted"
    );
}

#[test]
fn over_permissive_and_least_privilege_integration_users_differ_on_the_same_object() {
    let org = org("fintech-wealth");
    let contact = org.object("Contact").unwrap();
    let ssn = contact.field("SSN__c").unwrap();
    let etl = org.effective(
        org.user("etl.integration@northwind-wealth.example.com")
            .unwrap(),
    );
    let mkt = org.effective(
        org.user("marketing.sync@northwind-wealth.example.com")
            .unwrap(),
    );
    assert!(etl.field(contact, ssn).read && etl.object("Contact").view_all);
    assert!(!mkt.field(contact, ssn).read && !mkt.object("Contact").view_all);
    let sensitive_for_marketing = org
        .objects
        .iter()
        .flat_map(|o| o.fields.iter().map(move |f| (o, f)))
        .filter(|(o, f)| f.class.is_sensitive() && mkt.field(o, f).read)
        .count();
    assert_eq!(
        sensitive_for_marketing, 0,
        "the marketing user is the least-privilege example"
    );
    // Field edit needs object edit: marketing may edit its opt-in flag.
    let opt_in = contact.field("Marketing_Opt_In__c").unwrap();
    assert!(mkt.field(contact, opt_in).edit);
    // No object permission, no fields, whatever FLS says.
    let kyc = org.object("KYC_Document__c").unwrap();
    assert!(kyc.fields.iter().all(|f| !mkt.field(kyc, f).read));
}
