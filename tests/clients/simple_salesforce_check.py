"""Drives `leakdrill serve` with the unmodified simple-salesforce client.

Usage: simple_salesforce_check.py STATE_DIR
Reads STATE_DIR/serve.json. Expects HTTPS_PROXY and REQUESTS_CA_BUNDLE to be
set by the caller so the client's hard-coded https://login.salesforce.com
reaches the mock. Prints one line per check and exits non-zero on failure.
"""
import json
import sys

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceExpiredSession

state = json.load(open(f"{sys.argv[1]}/serve.json"))
users = {u["username"].split("@")[0]: u for u in state["users"]}
apps = {a["name"]: a for a in state["connected_apps"]}


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f": {detail}" if detail else ""))
    if not cond:
        sys.exit(1)


etl = users["etl.integration"]

# 1. SOAP partner login with the security token, default `login` domain
#    (through the egress proxy to the real host name).
sf = Salesforce(username=etl["username"], password=etl["password"], security_token=etl["security_token"])
check("soap login via login.salesforce.com", sf.sf_instance == "northwind-wealth.my.salesforce.com", sf.sf_instance)

# 2. query_all pages through queryMore (> 2,000 records).
res = sf.query_all("SELECT Id, Email, SSN__c FROM Contact")
check("query_all over 2,000 records", res["totalSize"] == len(res["records"]) > 2000, str(res["totalSize"]))
check("watermarked reserved-domain emails", all(r["Email"].endswith("@northwind-wealth.example.com") and "+ld" in r["Email"] for r in res["records"]))

# 2b. Bulk API 2.0 query: CSV pages of 1,000 rows with Sforce-Locator paging.
import csv, io
chunks = list(sf.bulk2.Contact.query("SELECT Id, Email, Jurisdiction__c FROM Contact", max_records=1000, wait=0))
rows = [r for c in chunks for r in csv.DictReader(io.StringIO(c))]
check("bulk2 query pages", len(chunks) == 3 and len(rows) == res["totalSize"], f"{len(chunks)} pages, {len(rows)} rows")
check("bulk2 rows carry jurisdictions", all(r["Jurisdiction__c"] for r in rows))

# 3. describe: only the fields FLS allows.
d = sf.Contact.describe()
names = {f["name"] for f in d["fields"]}
check("describe lists visible fields", {"Email", "SSN__c", "Watermark__c"} <= names)

# 4. limits and the Sforce-Limit-Info counter.
lim = sf.limits()
check("limits", lim["DailyApiRequests"]["Max"] > 0 and sf.api_usage.get("api-usage") is not None, str(sf.api_usage))

# 5. OAuth password flow with the connected app (consumer key + secret).
mkt = users["marketing.sync"]
app = apps["marketing-cloud-connect"]
session = requests.Session()
# Marketing's profile only admits its SaaS egress range; the mock trusts
# X-Forwarded-For from loopback, so the client appears from that network.
session.headers["X-Forwarded-For"] = "203.0.113.40"
# (simple-salesforce chooses SOAP whenever security_token is given, so the
# token goes after the password here, as the OAuth flow expects.)
sf2 = Salesforce(
    username=mkt["username"],
    password=mkt["password"] + mkt["security_token"],
    consumer_key=app["client_id"],
    consumer_secret=app["client_secret"],
    session=session,
)
check("oauth password flow", sf2.session_id.startswith(state["org_id"][:15] + "!"))

# 5b. OAuth JWT bearer with the mock's well-known test key (login domain,
#     through the egress proxy), and a user the app has not pre-authorised.
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
kyc = users["kyc.vendor"]
kapp = apps["kyc-vendor-app"]
sfj = Salesforce(username=kyc["username"], consumer_key=kapp["client_id"], privatekey_file=kapp["jwt_private_key_file"])
check("jwt bearer flow", sfj.query("SELECT Id FROM Contact LIMIT 1")["totalSize"] == 1)
try:
    Salesforce(username=etl["username"], consumer_key=kapp["client_id"], privatekey_file=kapp["jwt_private_key_file"])
    check("jwt for an unapproved user refused", False, "login succeeded")
except SalesforceAuthenticationFailed as e:
    check("jwt for an unapproved user refused", "hasn't approved this consumer" in str(e), str(e))

# 6. Field-level security: the least-privilege user cannot select SSN__c.
try:
    sf2.query("SELECT Id, SSN__c FROM Contact LIMIT 1")
    check("INVALID_FIELD for a hidden field", False, "query succeeded")
except SalesforceMalformedRequest as e:
    check("INVALID_FIELD for a hidden field", e.content[0]["errorCode"] == "INVALID_FIELD", str(e.content))

# 7. CRUD as the admin (from the corporate network).
admin = users["dana.whitfield"]
corp = requests.Session()
corp.headers["X-Forwarded-For"] = "198.51.100.10"
sfa = Salesforce(username=admin["username"], password=admin["password"], security_token=admin["security_token"], session=corp)
created = sfa.Contact.create({"LastName": "Testperson", "Email": "t.person@northwind-wealth.example.com"})
check("create", created["success"] and created["id"].startswith("003"), str(created))
got = sfa.Contact.get(created["id"])
check("get", got["LastName"] == "Testperson" and got["attributes"]["type"] == "Contact")
check("update", sfa.Contact.update(created["id"], {"LastName": "Renamed"}) == 204)
check("read back", sfa.Contact.get(created["id"])["LastName"] == "Renamed")
check("delete", sfa.Contact.delete(created["id"]) == 204)

# 8. Revocation: the revoked token fails on its very next call. (A client
#    that owns the login, like sf2, would transparently log in again: that is
#    why containment must also freeze the user or revoke the grant.)
stolen = Salesforce(instance_url=f"https://{sf2.sf_instance}", session_id=sf2.session_id)
check("stolen token works before revoke", stolen.query("SELECT Id FROM Contact LIMIT 1")["totalSize"] == 1)
r = requests.post(f"https://{sf2.sf_instance}/services/oauth2/revoke", data={"token": sf2.session_id})
check("revoke", r.status_code == 200, str(r.status_code))
try:
    stolen.query("SELECT Id FROM Contact LIMIT 1")
    check("revoked token refused", False, "query succeeded")
except SalesforceExpiredSession as e:
    check("revoked token refused", "INVALID_SESSION_ID" in str(e), str(e))
check("owning client re-authenticates", sf2.query("SELECT Id FROM Contact LIMIT 1")["totalSize"] == 1)
print("simple-salesforce: all checks passed")
