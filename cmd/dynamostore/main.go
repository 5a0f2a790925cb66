// Command dynamostore checks and prepares the AWS set-up of the dynamostore session store.
//
// Install it with:
//
//	go install github.com/dynamostore/dynamostore/cmd/dynamostore@latest
//
// Its subcommands are:
//
//	dynamostore check -table-arn ARN [-role-arn ARN [-external-id ID]] [-key-prefix P] [-region R]
//	dynamostore create-table [-region R] [-endpoint URL] NAME
//	dynamostore keygen
//	dynamostore help
//
// check runs, with the usage account's credentials, every call the store makes on a table in
// another account (see CROSS-ACCOUNT.md): it assumes the role (or, without -role-arn, calls
// the table with those credentials, through the table's resource-based policy), describes the
// table and its TTL, and runs a real store with keys of its own through sessions, users'
// sessions and the KV view, so that IAM conditions judge exactly the store's calls. It prints
// one PASS, SKIP or FAIL line per step, each FAIL naming the refused call and the policy
// change that lets it through, and exits with status 0 only when no step failed. It never
// prints credentials, session tokens, signatures, session IDs or cookie values.
//
// create-table creates an on-demand session table with TTL on the expires attribute, for
// development or in the table account. keygen prints new random session keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK    = 0 // every step passed (SKIP allowed), or the command did what it was asked
	exitFail  = 1 // a step failed, or an AWS call failed
	exitUsage = 2 // the command line is wrong
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name), writing results to stdout and
// usage errors to stderr, and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr)
	case "create-table":
		return runCreateTable(ctx, args[1:], stdout, stderr)
	case "keygen":
		return runKeygen(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "dynamostore: unknown command %q\n\n", args[0])
	printUsage(stderr)
	return exitUsage
}

const usage = `dynamostore checks and prepares the AWS set-up of the dynamostore session store
(github.com/dynamostore/dynamostore).

Usage:

  dynamostore check -table-arn ARN [-role-arn ARN [-external-id ID]] [-key-prefix P] [-region R]
      Assume the role (or, without one, use your credentials through the table's
      resource-based policy) and run a real store through every call it makes on the table,
      printing PASS, SKIP or FAIL for each step, with the policy fix for each failure. Run it
      where the application runs, with the usage account's credentials. More flags:
      dynamostore check -h.

  dynamostore create-table [-region R] [-endpoint URL] NAME
      Create an on-demand session table NAME (a table name or table ARN) with a string hash
      key "id" and TTL on "expires", in the account of the current credentials. It succeeds
      if the table already exists with that key.

  dynamostore keygen
      Print a new random 32-byte hash key and 32-byte block key, in hex, as
      SESSION_HASH_KEY=... and SESSION_BLOCK_KEY=... lines.

  dynamostore help
      Print this help.

Environment:

  TABLE_ARN        default of check's -table-arn
  TABLE_ROLE_ARN   default of check's -role-arn (unset: no role)
  EXTERNAL_ID      default of check's -external-id
  AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, ...
                   the usage account's credentials and region, read as the AWS CLI does
  AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_DYNAMODB
                   other endpoints for STS and DynamoDB (local emulators, for example)

Exit status: 0 when every step passed (a SKIP is not a failure), 1 when one failed, 2 for a
wrong command line.
`

func printUsage(w io.Writer) { fmt.Fprint(w, usage) }

// parseFlags parses args with fs. It prints the flag set's usage for -h and returns
// errHelp, and returns flag errors (already printed by fs) otherwise.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return err
}

// errHelp means -h was asked: the usage was printed and the command exits with status 0.
var errHelp = errors.New("dynamostore: help requested")
