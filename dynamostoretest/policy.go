package dynamostoretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// This file is the test kit's IAM policy language: documents (ParsePolicy), statements, and
// their evaluation as IAM evaluates them. Sources relied on (AWS IAM User Guide):
//
//   - reference_policies_elements_condition_operators: a key absent from the request makes a
//     condition false, except for negated operators (StringNotEquals, StringNotLike, ...),
//     where it makes it true; ...IfExists and Null test presence instead.
//   - reference_policies_condition-logic-multiple-context-keys-or-values: operators and keys
//     are ANDed, the values of one key ORed, and for a negated operator NORed.
//   - reference_policies_condition-single-vs-multi-valued-context-keys and
//     reference_policies_condition_examples-multi-valued-context-keys: ForAllValues is true when
//     every request value matches one policy value, and also when the key is absent or empty;
//     ForAnyValue is true when one request value matches, false when the key is absent.
//   - reference_policies_elements_resource: wildcards (* and ?) work within the colon-separated
//     segments of an ARN, and a * that ends a segment may match beyond the colons.
//   - reference_policies_evaluation-logic and ..._cross-account: an explicit Deny in any policy
//     wins; within an account an identity-based or a resource-based policy may allow; across
//     accounts both must.
//
// Where the documentation leaves an outcome open, the reading taken is the stricter one for
// the statement's effect (an Allow applies in fewer cases, a Deny in more), so that the kit
// never allows what AWS would refuse.

// Effect is a statement's effect: Allow or Deny.
type Effect string

const (
	// Allow grants what the statement matches, unless a Deny statement matches too.
	Allow Effect = "Allow"
	// Deny refuses what the statement matches, whatever any Allow statement says.
	Deny Effect = "Deny"
)

// Policy is an IAM policy: identity-based (a Principal's or a Role's) or resource-based (a
// table's, GatewayOptions.ResourcePolicy). ParsePolicy reads one from its JSON document; the
// short form Policy{Actions: ..., Resources: ...} stays valid and means one Allow statement
// without conditions.
//
// Evaluation is IAM's: an explicit Deny in any statement that matches wins; otherwise some
// Allow statement must match the action, the resource and all of its conditions, or the
// request is implicitly denied. The zero Policy allows nothing.
type Policy struct {
	// Actions, when not empty, add one Allow statement without conditions for these actions
	// (such as "dynamodb:GetItem", "dynamodb:*" or "*") on Resources.
	Actions []string
	// Resources are the ARNs of the short form's statement, with the wildcards * and ?
	// ("*" matches every resource). The short form matches no resource when it is empty.
	Resources []string
	// Statements are the policy's statements, in the order of the document.
	Statements []Statement
}

// Statement is one statement of a policy. Exactly one of Actions and NotActions, and exactly
// one of Resources and NotResources, must be set; Validate checks the whole statement.
type Statement struct {
	// Sid is the statement's optional identifier; it has no effect.
	Sid string
	// Effect is Allow or Deny.
	Effect Effect
	// Principals is the Principal element, used in resource-based policies only: "*" (anyone),
	// an account ID or arn:aws:iam::ACCOUNT:root (the account, which delegates to that
	// account's identity-based policies), or the ARN of a user, a role (which covers its
	// sessions) or an assumed-role session. An identity-based policy must not have any.
	Principals []string
	// Actions the statement matches, case-insensitively, with the wildcards * and ?.
	Actions []string
	// NotActions makes the statement match every action except these.
	NotActions []string
	// Resources the statement matches: ARNs with wildcards, or "*".
	Resources []string
	// NotResources makes the statement match every resource except these.
	NotResources []string
	// Conditions must all hold for the statement to match.
	Conditions []Condition
}

// Condition is one condition key test of a statement: "Operator": {"Key": Values}.
type Condition struct {
	// Operator is a condition operator as IAM spells it: StringEquals, StringNotEquals,
	// StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike,
	// ArnEquals, ArnLike, ArnNotEquals, ArnNotLike or Bool, each with an optional IfExists
	// suffix and an optional ForAllValues: or ForAnyValue: prefix, or Null.
	Operator string
	// Key is the condition key, matched case-insensitively; SupportedConditionKeys lists
	// the keys the test kit computes.
	Key string
	// Values are the policy's values: a request value matches if it matches any of them
	// (none of them, for a negated operator).
	Values []string
}

// SupportedConditionKeys are the condition keys the gateway computes for DynamoDB requests,
// and the only keys a policy may test: a condition on a key the kit cannot compute would
// silently decide differently from AWS. dynamodb:LeadingKeys and dynamodb:Attributes are
// multivalued keys. Treat the slice as read-only.
var SupportedConditionKeys = []string{
	"dynamodb:LeadingKeys", "dynamodb:Attributes", "dynamodb:Select", "dynamodb:ReturnValues",
	"dynamodb:ReturnConsumedCapacity", "dynamodb:EnclosingOperation", "dynamodb:FullTableScan",
	"aws:PrincipalArn", "aws:PrincipalAccount", "aws:RequestedRegion",
}

var supportedKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range SupportedConditionKeys {
		m[strings.ToLower(k)] = true
	}
	return m
}()

// multivaluedKeys are the keys whose request values are a set.
var multivaluedKeys = map[string]bool{"dynamodb:leadingkeys": true, "dynamodb:attributes": true}

// PolicyError is a problem ParsePolicy or Validate found in a policy.
type PolicyError struct {
	// Statement is the index of the statement in the document, or -1 for the document.
	Statement int
	// Message says what is wrong.
	Message string
}

// Error returns the message, with the statement's index when it is about a statement.
func (e *PolicyError) Error() string {
	if e.Statement < 0 {
		return "dynamostoretest: policy: " + e.Message
	}
	return fmt.Sprintf("dynamostoretest: policy: statement %d: %s", e.Statement, e.Message)
}

// ParsePolicy reads an IAM policy document: Version ("2012-10-17" or "2008-10-17", optional),
// Id (optional) and Statement (one object or an array), each statement with Sid, Effect,
// Principal, Action or NotAction, Resource or NotResource, and Condition. It returns a
// *PolicyError for a document IAM would refuse and for anything the test kit does not
// evaluate, rather than ignoring it: an unknown or duplicated member, NotPrincipal, a
// principal type other than AWS, an unsupported operator or condition key, or a policy
// variable (${...}) in a 2012-10-17 document, which the kit does not substitute.
func ParsePolicy(doc []byte) (Policy, error) {
	docErr := func(format string, args ...any) error {
		return &PolicyError{Statement: -1, Message: fmt.Sprintf(format, args...)}
	}
	for _, r := range string(doc) {
		// IAM's character set for policy documents.
		if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xFF) {
			return Policy{}, docErr("character %U is not allowed in a policy document", r)
		}
	}
	if msg := checkJSON(doc); msg != "" {
		return Policy{}, docErr("%s", msg)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return Policy{}, docErr("%v", err)
	}
	version := "2008-10-17" // IAM's default when Version is absent
	for _, name := range sortedKeys(top) {
		raw := top[name]
		switch name {
		case "Version":
			if err := json.Unmarshal(raw, &version); err != nil || (version != "2012-10-17" && version != "2008-10-17") {
				return Policy{}, docErr("Version must be \"2012-10-17\" or \"2008-10-17\", not %s", raw)
			}
		case "Id":
			var id string
			if err := json.Unmarshal(raw, &id); err != nil {
				return Policy{}, docErr("Id must be a string")
			}
		case "Statement":
		default:
			return Policy{}, docErr("unknown member %q", name)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return Policy{}, docErr("Statement is missing")
	}
	var raws []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		raws = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &raws); err != nil {
		return Policy{}, docErr("Statement must be an object or an array of objects")
	}
	if len(raws) == 0 {
		return Policy{}, docErr("Statement is empty")
	}
	var p Policy
	for i, raw := range raws {
		st, err := parseStatement(raw, version == "2012-10-17")
		if err != nil {
			return Policy{}, &PolicyError{Statement: i, Message: err.Error()}
		}
		p.Statements = append(p.Statements, st)
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

func parseStatement(raw json.RawMessage, variables bool) (Statement, error) {
	var m map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return Statement{}, errors.New("a statement must be an object")
	}
	var st Statement
	var err error
	for _, name := range sortedKeys(m) {
		v := m[name]
		switch name {
		case "Sid":
			if json.Unmarshal(v, &st.Sid) != nil {
				return st, errors.New("member Sid must be a string")
			}
		case "Effect":
			var e string
			if json.Unmarshal(v, &e) != nil {
				return st, errors.New("member Effect must be a string")
			}
			st.Effect = Effect(e)
		case "Principal":
			st.Principals, err = parsePrincipal(v)
		case "NotPrincipal":
			return st, errors.New("member NotPrincipal is not supported")
		case "Action":
			st.Actions, err = stringOrList(v, "Action")
		case "NotAction":
			st.NotActions, err = stringOrList(v, "NotAction")
		case "Resource":
			st.Resources, err = stringOrList(v, "Resource")
		case "NotResource":
			st.NotResources, err = stringOrList(v, "NotResource")
		case "Condition":
			st.Conditions, err = parseConditions(v)
		default:
			return st, fmt.Errorf("unknown member %q", name)
		}
		if err != nil {
			return st, err
		}
	}
	if variables {
		for _, s := range append(append([]string(nil), st.Resources...), st.NotResources...) {
			if strings.Contains(s, "${") {
				return st, fmt.Errorf("policy variables are not supported: %q", s)
			}
		}
		for _, c := range st.Conditions {
			for _, v := range c.Values {
				if strings.Contains(v, "${") {
					return st, fmt.Errorf("policy variables are not supported: %q in %s %s", v, c.Operator, c.Key)
				}
			}
		}
	}
	return st, nil
}

// sortedKeys returns the member names of an object in order, so that a document always
// parses to the same Policy and reports the same first error.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stringOrList reads a string or a non-empty array of strings.
func stringOrList(raw json.RawMessage, member string) ([]string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, fmt.Errorf("%s must be a string or a non-empty array of strings", member)
	}
	return list, nil
}

func parsePrincipal(raw json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "*" {
			return nil, errors.New(`member Principal must be "*" or an object such as {"AWS": "arn"}`)
		}
		return []string{"*"}, nil
	}
	var m map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil, errors.New(`member Principal must be "*" or an object such as {"AWS": "arn"}`)
	}
	var out []string
	for _, kind := range sortedKeys(m) {
		v := m[kind]
		if kind != "AWS" {
			return nil, fmt.Errorf("principal type %q is not supported (only AWS)", kind)
		}
		list, err := stringOrList(v, "Principal.AWS")
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
}

func parseConditions(raw json.RawMessage) ([]Condition, error) {
	var ops map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(raw, &ops) != nil {
		return nil, errors.New("member Condition must be an object of operators")
	}
	var out []Condition
	for _, op := range sortedKeys(ops) {
		block := ops[op]
		var keys map[string]json.RawMessage
		if t := bytes.TrimSpace(block); len(t) == 0 || t[0] != '{' || json.Unmarshal(block, &keys) != nil || len(keys) == 0 {
			return nil, fmt.Errorf("condition operator %s must hold an object of condition keys", op)
		}
		for _, key := range sortedKeys(keys) {
			values, err := conditionValues(keys[key])
			if err != nil {
				return nil, fmt.Errorf("%s %s: %v", op, key, err)
			}
			out = append(out, Condition{Operator: op, Key: key, Values: values})
		}
	}
	return out, nil
}

// conditionValues reads a condition value: a string, number or boolean, or a non-empty array
// of them, each as its JSON text.
func conditionValues(raw json.RawMessage) ([]string, error) {
	scalar := func(r json.RawMessage) (string, bool) {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return "", false
		}
		switch v := v.(type) {
		case string:
			return v, true
		case json.Number:
			return v.String(), true
		case bool:
			if v {
				return "true", true
			}
			return "false", true
		}
		return "", false
	}
	if s, ok := scalar(raw); ok {
		return []string{s}, nil
	}
	var list []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return nil, errors.New("a value must be a string, number or boolean, or a non-empty array of them")
	}
	out := make([]string, 0, len(list))
	for _, r := range list {
		s, ok := scalar(r)
		if !ok {
			return nil, errors.New("a value must be a string, number or boolean, or a non-empty array of them")
		}
		out = append(out, s)
	}
	return out, nil
}

// Validate reports the first problem of the policy's statements as a *PolicyError, with the
// rules of ParsePolicy. The short form (Actions, Resources) is always valid. The gateway
// refuses, rather than evaluates, a statement it cannot read: such a statement never allows
// and, if its Effect is not Allow, always denies.
func (p Policy) Validate() error {
	for i, st := range p.Statements {
		if err := st.validate(); err != nil {
			return &PolicyError{Statement: i, Message: err.Error()}
		}
	}
	return nil
}

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	actionPattern    = regexp.MustCompile(`^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)$`)
	principalPattern = regexp.MustCompile(`^arn:aws:(iam::[0-9]{12}:(root|user/.+|role/.+)|sts::[0-9]{12}:assumed-role/[^/]+/.+)$`)
)

func (st Statement) validate() error {
	if st.Effect != Allow && st.Effect != Deny {
		return fmt.Errorf("member Effect must be \"Allow\" or \"Deny\", not %q", st.Effect)
	}
	if (len(st.Actions) == 0) == (len(st.NotActions) == 0) {
		return errors.New("a statement needs exactly one of Action and NotAction")
	}
	if (len(st.Resources) == 0) == (len(st.NotResources) == 0) {
		return errors.New("a statement needs exactly one of Resource and NotResource")
	}
	for _, a := range append(append([]string(nil), st.Actions...), st.NotActions...) {
		if !actionPattern.MatchString(a) {
			return fmt.Errorf("action %q is not service:action or *", a)
		}
	}
	for _, r := range append(append([]string(nil), st.Resources...), st.NotResources...) {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return fmt.Errorf("resource %q is not an ARN or *", r)
		}
	}
	for _, pr := range st.Principals {
		if pr != "*" && !accountIDPattern.MatchString(pr) && !principalPattern.MatchString(pr) {
			return fmt.Errorf("principal %q is not *, an account ID or the ARN of a user, role or assumed-role session", pr)
		}
		if pr != "*" && strings.ContainsAny(pr, "*?") {
			return fmt.Errorf("principal %q: wildcards are not allowed in principals", pr)
		}
	}
	for _, c := range st.Conditions {
		if err := c.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (c Condition) validate() error {
	op, err := parseOperator(c.Operator)
	if err != nil {
		return err
	}
	if !supportedKeys[strings.ToLower(c.Key)] {
		return fmt.Errorf("condition key %q is not supported; the test kit computes %s", c.Key, strings.Join(SupportedConditionKeys, ", "))
	}
	if len(c.Values) == 0 {
		return fmt.Errorf("%s %s has no value", c.Operator, c.Key)
	}
	if op.base == "Null" || op.base == "Bool" {
		for _, v := range c.Values {
			if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
				return fmt.Errorf("%s %s: %q is not true or false", c.Operator, c.Key, v)
			}
		}
	}
	return nil
}

// Set qualifiers of a condition operator.
const (
	single = iota
	forAllValues
	forAnyValue
)

// operator is a parsed condition operator.
type operator struct {
	set      int
	base     string // StringEquals, ..., Bool, Null
	negated  bool
	ifExists bool
}

var baseOperators = map[string]bool{ // name: negated
	"StringEquals": false, "StringNotEquals": true, "StringEqualsIgnoreCase": false,
	"StringNotEqualsIgnoreCase": true, "StringLike": false, "StringNotLike": true,
	"ArnEquals": false, "ArnLike": false, "ArnNotEquals": true, "ArnNotLike": true,
	"Bool": false, "Null": false,
}

func parseOperator(s string) (operator, error) {
	var op operator
	name := s
	if rest, ok := strings.CutPrefix(name, "ForAllValues:"); ok {
		op.set, name = forAllValues, rest
	} else if rest, ok := strings.CutPrefix(name, "ForAnyValue:"); ok {
		op.set, name = forAnyValue, rest
	}
	if rest, ok := strings.CutSuffix(name, "IfExists"); ok && rest != "" {
		op.ifExists, name = true, rest
	}
	negated, ok := baseOperators[name]
	if !ok {
		return op, fmt.Errorf("condition operator %q is not supported", s)
	}
	if name == "Null" && (op.set != single || op.ifExists) {
		return op, fmt.Errorf("condition operator %q is not valid: Null takes no qualifier nor IfExists", s)
	}
	op.base, op.negated = name, negated
	return op, nil
}

// keyState says whether a condition key is in a request.
type keyState int

const (
	keyAbsent  keyState = iota // AWS does not set the key for this request
	keyPresent                 // the key has values
	keyUnknown                 // AWS sets the key, but the kit could not compute it
)

// evalRequest is a request as a policy sees it.
type evalRequest struct {
	action, resource string
	who              principalInfo
	// keys returns a condition key's values (lower-case key name). A nil function means
	// that no key can be computed: every condition is unknown.
	keys func(key string) ([]string, keyState)
}

// principalInfo identifies the caller for the Principal element of resource-based policies.
type principalInfo struct {
	arn     string // the caller: a user, a principal with long-term keys, or a session
	account string
	role    string // for an assumed-role session, the role's ARN
}

func (r *evalRequest) lookup(key string) ([]string, keyState) {
	if r.keys == nil {
		return nil, keyUnknown
	}
	values, state := r.keys(strings.ToLower(key))
	if state == keyPresent && len(values) == 0 {
		state = keyAbsent // an empty set is no value, as for ForAllValues
	}
	return values, state
}

// verdict is the outcome of one policy for one request.
type verdict struct {
	deny         bool // an explicit Deny matched
	allow        bool // an Allow matched that grants by itself
	allowAccount bool // an Allow matched only through an account principal (resource-based)
}

// statements returns the short form's statement, if any, and the policy's statements.
func (p Policy) statements() []Statement {
	if len(p.Actions) == 0 {
		return p.Statements
	}
	// Without Resources the statement is incomplete, and so never allows.
	short := Statement{Effect: Allow, Actions: p.Actions, Resources: p.Resources}
	return append([]Statement{short}, p.Statements...)
}

// evaluate evaluates the policy for r. A resource-based policy matches its statements'
// principals against the caller; an identity-based policy's statements apply to the caller
// (a Principal in one is invalid: such a statement may deny but never allows).
func (p Policy) evaluate(r *evalRequest, resourceBased bool) verdict {
	var v verdict
	for _, st := range p.statements() {
		deny := st.Effect != Allow
		if st.validate() != nil {
			// An unreadable statement never allows, and denies everything if it may deny.
			v.deny = v.deny || deny
			continue
		}
		if !st.matchesAction(r.action) || !st.matchesResource(r.resource) {
			continue
		}
		viaAccount := false
		if resourceBased {
			matched, account := st.matchesPrincipal(r.who)
			if !matched {
				continue
			}
			viaAccount = account
		} else if len(st.Principals) > 0 && !deny {
			continue
		}
		if !st.conditionsHold(r, deny) {
			continue
		}
		switch {
		case deny:
			v.deny = true
		case viaAccount:
			v.allowAccount = true
		default:
			v.allow = true
		}
	}
	return v
}

// Allows reports whether the policy allows action on resource for a request whose condition
// keys are unknown: a statement with conditions never allows, and always denies if it is a
// Deny. The gateway evaluates the full request instead.
func (p Policy) Allows(action, resource string) bool {
	v := p.evaluate(&evalRequest{action: action, resource: resource}, false)
	return v.allow && !v.deny
}

func (st Statement) matchesAction(action string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			if glob(strings.ToLower(p), strings.ToLower(action), false) {
				return true
			}
		}
		return false
	}
	if len(st.NotActions) > 0 {
		return !match(st.NotActions)
	}
	return match(st.Actions)
}

func (st Statement) matchesResource(resource string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			if resourceMatch(p, resource) {
				return true
			}
		}
		return false
	}
	if len(st.NotResources) > 0 {
		return !match(st.NotResources)
	}
	return match(st.Resources)
}

// matchesPrincipal reports whether a resource-based statement names the caller, and whether
// only through its account.
func (st Statement) matchesPrincipal(who principalInfo) (matched, viaAccount bool) {
	for _, p := range st.Principals {
		switch {
		case p == "*":
			return true, false
		case p == who.arn:
			return true, false
		case p == "arn:aws:iam::"+who.account+":root" || p == who.account:
			viaAccount = true
		case who.role != "" && strings.Contains(p, ":role/") && arnAccount(p) == who.account &&
			p[strings.LastIndex(p, "/")+1:] == who.role[strings.LastIndex(who.role, "/")+1:]:
			// A role principal covers its sessions; roles are unique by name in an account
			// (AWS resolves the ARN to the role's ID, so the path does not matter).
			return true, false
		}
	}
	return viaAccount, viaAccount
}

// conditionsHold reports whether all of the statement's conditions hold for r, taking the
// stricter reading for its effect where a condition cannot be decided exactly.
func (st Statement) conditionsHold(r *evalRequest, deny bool) bool {
	for _, c := range st.Conditions {
		if !c.holds(r, deny) {
			return false
		}
	}
	return true
}

func (c Condition) holds(r *evalRequest, deny bool) bool {
	op, err := parseOperator(c.Operator)
	if err != nil || c.validate() != nil {
		return deny // unreadable: an Allow fails, a Deny applies
	}
	values, state := r.lookup(c.Key)
	if state == keyUnknown {
		return deny
	}
	if op.base == "Null" {
		for _, want := range c.Values {
			if strings.EqualFold(want, "true") == (state == keyAbsent) {
				return true
			}
		}
		return false
	}
	if state == keyAbsent {
		switch {
		case op.ifExists:
			return true
		case op.set == forAllValues:
			return true
		case op.set == forAnyValue:
			return false
		}
		return op.negated
	}
	one := func(v string) bool {
		matched := false
		for _, want := range c.Values {
			if op.match(want, v) {
				matched = true
				break
			}
		}
		return matched != op.negated // a negated operator's values are NORed
	}
	all, any := true, false
	for _, v := range values {
		if one(v) {
			any = true
		} else {
			all = false
		}
	}
	switch op.set {
	case forAllValues:
		return all
	case forAnyValue:
		return any
	}
	if len(values) == 1 || !multivaluedKeys[strings.ToLower(c.Key)] {
		return all
	}
	// A plain operator on a set of several values: IAM documents no outcome. An Allow holds
	// only if every value passes, a Deny if any does.
	if deny {
		return any
	}
	return all
}

// match reports whether the request value v matches the policy value want.
func (op operator) match(want, v string) bool {
	switch op.base {
	case "StringEquals", "StringNotEquals":
		return v == want
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return strings.EqualFold(v, want)
	case "StringLike", "StringNotLike":
		return glob(want, v, false)
	case "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike":
		return arnMatch(want, v)
	case "Bool":
		return strings.EqualFold(v, want)
	}
	return false
}

// glob matches s against pattern, where * matches any run of characters and ? any one
// character. With arn set, ? and * do not match a colon, except a * that ends a segment of
// the pattern (is last, or followed by a colon), which IAM lets match beyond the colons of a
// resource ARN.
func glob(pattern, s string, arn bool) bool {
	// next[j] reports whether pattern[i+1:] matches s[j:]; cur is the row for pattern[i:].
	next := make([]bool, len(s)+1)
	cur := make([]bool, len(s)+1)
	next[len(s)] = true
	for i := len(pattern) - 1; i >= 0; i-- {
		c := pattern[i]
		crosses := !arn || starEndsSegment(pattern, i)
		for j := len(s); j >= 0; j-- {
			switch {
			case c == '*':
				cur[j] = next[j] || (j < len(s) && (crosses || s[j] != ':') && cur[j+1])
			case j == len(s):
				cur[j] = false
			case c == '?':
				cur[j] = !(arn && s[j] == ':') && next[j+1]
			default:
				cur[j] = c == s[j] && next[j+1]
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

func starEndsSegment(pattern string, star int) bool {
	return star+1 == len(pattern) || pattern[star+1] == ':'
}

// resourceMatch matches a resource ARN against a Resource element's pattern.
func resourceMatch(pattern, resource string) bool {
	return pattern == "*" || glob(pattern, resource, true)
}

// arnMatch is ArnLike: the six colon-separated parts are matched separately (the last one,
// the resource, may itself hold colons).
func arnMatch(pattern, arn string) bool {
	pp, ap := strings.SplitN(pattern, ":", 6), strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return false
	}
	for i := range pp {
		if !glob(pp[i], ap[i], false) {
			return false
		}
	}
	return true
}
