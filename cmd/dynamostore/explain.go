package main

import (
	"fmt"
	"slices"
	"strings"
)

// storeItemActions are the four item calls the store makes.
var storeItemActions = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}

// storeAttributes are the top-level attributes of the store's items besides the partition
// key, which every dynamodb:Attributes condition must list (docs/iam.md).
var storeAttributes = []string{"data", "expires", "written", "version", "moved", "sessions", "deleted"}

// explainDenied reports a store call that DynamoDB refused with AccessDeniedException: the
// call as the store sent it (its action, key prefix, ReturnValues, projection and attribute
// names), and the policy change that lets it through. AWS's answer names the principal, the
// action and the kind of policy that refused it, but not the condition that failed, so the
// fix says what the call needs of each condition key the store's calls meet, and which of
// them the calls allowed earlier in the run make likely.
func (p *probe) explainDenied(step, api string, call *recordedCall, op, msg string) {
	c, r := p.c, p.c.r
	if call == nil {
		call = &recordedCall{op: op}
	}
	d := parseDenial(msg)
	action, resource := call.action(), c.table.String()
	if d.action != "" {
		action, resource = d.action, d.resource
	}
	who := c.subject()
	if c.o.noRole() && d.caller != "" {
		who = d.caller
	}
	desc := call.describe(p.prefix)
	switch {
	case strings.Contains(d.why, "explicit deny"):
		r.fail(step, fmt.Sprintf("%s failed: %s on %s is denied to %s by an explicit deny (%s); the call, as the store sent it: %s",
			api, action, resource, who, d.why, desc),
			"remove or narrow that deny (in the role's policies, the table's resource-based policy or a service control policy) so that it spares the store's calls")
		return
	case strings.HasPrefix(action, "kms:"):
		r.fail(step, fmt.Sprintf("%s failed: %s may not use the table's KMS key: %s on %s is not allowed", api, who, action, resource),
			fmt.Sprintf("in the table account, allow %s on %s in %s and in the key's policy", action, resource, c.policyName()))
		return
	}
	what := fmt.Sprintf("%s failed: %s may not call %s as the store sends it (AWS: %s): %s", api, who, action, orUnknown(d.why), desc)
	// One explanation per refused call, or per action while none of it was allowed.
	sig, same := call.signature(p.prefix)+"|"+d.why, "the same call was refused"
	if len(p.rec.allowedCalls(call.op)) == 0 {
		sig, same = call.op+"|"+d.why, "no "+action+" has been allowed in this run"
	}
	if prev, ok := p.explained[sig]; ok {
		r.fail(step, what, fmt.Sprintf("as for %s above: %s", prev, same))
		return
	}
	p.explained[sig] = step
	likely, marks := p.suspects(call)
	conditions := p.conditionLines(call, action, marks)
	var fix []string
	switch {
	case strings.Contains(d.why, "resource-based"):
		principal, _ := trustPrincipal(d.caller)
		fix = append(fix,
			fmt.Sprintf("in the table account, the table's resource-based policy must allow this call to %s (docs/iam.md, mode 2): add this statement to it "+
				"(put-resource-policy replaces the whole policy: keep its other statements), or, if a statement already names it, make sure that:", principal),
			fmt.Sprintf(`{"Sid": "DynamostoreSessions", "Effect": "Allow", "Principal": {"AWS": "%s"}, "Action": ["%s"], "Resource": "%s"}`,
				principal, strings.Join(storeItemActions, `", "`), c.table))
		fix = append(fix, conditions...)
		fix = append(fix, fmt.Sprintf("see the policy with `aws dynamodb get-resource-policy --resource-arn %s --query Policy --output text`, "+
			"and replace it with `aws dynamodb put-resource-policy --resource-arn %s --policy file://policy.json`", c.table, c.table))
		if c.o.noRole() {
			fix = append(fix, "your identity policy in the usage account must allow the same call: with no role, the table's resource-based policy "+
				"and your identity policy must both allow each call")
		}
	case c.o.noRole():
		name := callerRoleName(d.caller)
		fix = append(fix, fmt.Sprintf("in the usage account, the identity policy of %s must allow this call (docs/iam.md, mode 2): "+
			"in its statement that allows the item calls on Resource %s, keeping its other statements and conditions, make sure that:", orCaller(d.caller), c.table))
		fix = append(fix, conditions...)
		fix = append(fix,
			"the table's resource-based policy must allow the same call: with no role, it and your identity policy must both allow each call "+
				"(AWS names the first that refuses)",
			fmt.Sprintf("see the identity policies with `aws iam list-role-policies --role-name %s` and `aws iam list-attached-role-policies --role-name %s`", name, name))
	default:
		role := roleName(c.o.roleARN)
		fix = append(fix, fmt.Sprintf("in the table account, the role's permission policy (CROSS-ACCOUNT.md, step 1) must allow this call: in its statement "+
			"that allows the item calls on Resource %s, keeping its other statements and conditions, make sure that:", resource))
		fix = append(fix, conditions...)
		fix = append(fix, fmt.Sprintf("see the role's policies with `aws iam list-role-policies --role-name %s`, then `aws iam get-role-policy --role-name %s --policy-name NAME`",
			role, role))
	}
	r.fail(step, what+". "+likely, fix...)
}

// policyName names the policy that grants the table's calls, for the KMS fix.
func (c *checker) policyName() string {
	if c.o.noRole() {
		return "your identity policy"
	}
	return "the role's permission policy"
}

func orUnknown(why string) string {
	if why == "" {
		return "access denied"
	}
	return why
}

func orCaller(caller string) string {
	if caller == "" {
		return "the caller (`aws sts get-caller-identity` names it)"
	}
	p, _ := trustPrincipal(caller)
	return p
}

// suspects compares a refused call with the calls of the same action allowed earlier in the
// run: what it has that none of them had is the likely cause. It returns a sentence, and
// marks by condition: "action", "leading", "returnvalues", "attributes", "select".
func (p *probe) suspects(call *recordedCall) (string, map[string]string) {
	marks := map[string]string{}
	const unsaid = "AWS does not say which condition refused it"
	if call.key == "" {
		return unsaid + ".", marks
	}
	allowed := p.rec.allowedCalls(call.op)
	if len(allowed) == 0 {
		marks["action"] = fmt.Sprintf("no %s was allowed in this run", call.action())
		if call.op == "GetItem" {
			marks["select"] = "every GetItem of the store has a projection"
		}
		return fmt.Sprintf("No %s was allowed in this run: the policy's Action list lacks it, or one of its conditions refuses every one (%s).",
			call.action(), unsaid), marks
	}
	var diffs []string
	kind := keyKind(call.key, p.prefix)
	if !slices.ContainsFunc(allowed, func(a recordedCall) bool { return keyKind(a.key, p.prefix) == kind }) {
		marks["leading"] = fmt.Sprintf("this call's key is %s; the %s calls allowed were on other keys", keyShape(call.key, p.prefix), call.action())
		diffs = append(diffs, "the key "+keyShape(call.key, p.prefix))
	}
	if call.op != "GetItem" && !slices.ContainsFunc(allowed, func(a recordedCall) bool { return a.returnValues == call.returnValues }) {
		marks["returnvalues"] = fmt.Sprintf("this call has ReturnValues %s; the %s calls allowed had %s", call.returnValues, call.action(), valuesOf(allowed))
		diffs = append(diffs, "ReturnValues "+call.returnValues)
	}
	var newAttrs []string
	for _, a := range call.attributes {
		if !slices.ContainsFunc(allowed, func(c recordedCall) bool { return slices.Contains(c.attributes, a) }) {
			newAttrs = append(newAttrs, a)
		}
	}
	if len(newAttrs) > 0 {
		marks["attributes"] = "this call names " + strings.Join(newAttrs, ", ") + ", which no allowed " + call.action() + " named"
		diffs = append(diffs, "the attributes "+strings.Join(newAttrs, ", "))
	}
	if len(diffs) == 0 {
		return fmt.Sprintf("The same %s was allowed earlier in this run (step %s): did the policy change meanwhile? (%s).",
			call.action(), allowed[0].step, unsaid), marks
	}
	return fmt.Sprintf("%s calls were allowed earlier in this run (step %s), so the likely cause is a condition on what this one has and they had not: %s (%s).",
		call.action(), allowed[0].step, strings.Join(diffs, ", "), unsaid), marks
}

func valuesOf(calls []recordedCall) string {
	var vs []string
	for _, c := range calls {
		if !slices.Contains(vs, c.returnValues) {
			vs = append(vs, c.returnValues)
		}
	}
	return strings.Join(vs, ", ")
}

// conditionLines say what each condition of the statement must admit for the store's calls,
// as docs/iam.md's tightest policy does, each marked when it is a likely cause.
func (p *probe) conditionLines(call *recordedCall, action string, marks map[string]string) []string {
	mark := func(key string) string {
		if m, ok := marks[key]; ok {
			return "   <- likely: " + m
		}
		return ""
	}
	attrs := append([]string{p.c.o.partitionKey}, storeAttributes...)
	lines := []string{
		fmt.Sprintf(`- "Action" includes "%s" (the store needs %s on the table)%s`, action, strings.Join(storeItemActions, ", "), mark("action")),
		fmt.Sprintf(`- a dynamodb:LeadingKeys condition admits the store's keys: "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["%s*"]}%s`,
			p.prefix, mark("leading")),
	}
	if !p.c.o.keyPrefixSet {
		lines = append(lines, fmt.Sprintf(`  (or, if the application's WithKeyPrefix is not %q, run check with -key-prefix set to it)`, p.prefix))
	}
	if call.op != "GetItem" {
		rv := call.returnValues
		if rv == "" {
			rv = "NONE, ALL_NEW and ALL_OLD"
		}
		lines = append(lines, fmt.Sprintf(`- a dynamodb:ReturnValues condition admits %s: "StringEqualsIfExists": {"dynamodb:ReturnValues": ["NONE", "ALL_NEW", "ALL_OLD"]} `+
			`(the store sends all three; IfExists, since reads have none)%s`, rv, mark("returnvalues")))
	}
	lines = append(lines, fmt.Sprintf(`- a dynamodb:Attributes condition lists the store's attributes: "ForAllValues:StringEquals": {"dynamodb:Attributes": ["%s"]}%s`,
		strings.Join(attrs, `", "`), mark("attributes")))
	if call.op == "GetItem" {
		lines = append(lines, fmt.Sprintf(`- a dynamodb:Select condition admits reads with a projection: "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"} `+
			`(every GetItem of the store has one; IfExists, since writes have none)%s`, mark("select")))
	}
	return append(lines, "docs/iam.md's tightest policy has all of these: every step of check passes under it")
}
