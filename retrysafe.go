package dynamostore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/dynamostore/dynamostore/credcache"
)

// Retry-safe writes.
//
// The SDK retries a call whose answer did not arrive (a reset connection, a timeout, a 500)
// and DynamoDB may have applied the first attempt. Every write of the store is conditional,
// so such a retry fails its own condition against the item that the first attempt wrote.
// An update without optimistic locking is conditioned on the header of the envelope it
// replaces, which carries that write's token, so a retry never lands on a later write.
// Every envelope carries a random write token (envelope.go), and every conditional write asks for
// the item it failed against (ReturnValuesOnConditionCheckFailure = ALL_OLD), so the store
// recognises its own write there and reports success (create and update in store.go).
//
// When a write fails with an error that does not say whether DynamoDB applied it, confirm
// reads the item once, strongly consistent, and reports what it finds: this write (success),
// the state the write replaced (a definite failure), or neither (ErrOutcomeUnknown). The read
// happens only after a failure, never on the success path.

// errKeyTaken is wrapped by the *OpError of a create that found another item under its key.
var errKeyTaken = errors.New("another item already has the new session's key; nothing was written")

// sameWrite reports whether item holds the envelope of sent: the random token in every
// envelope makes that true only for the very same write.
func sameWrite(item, sent map[string]types.AttributeValue) bool {
	have, ok := item[attrData].(*types.AttributeValueMemberB)
	if !ok {
		return false
	}
	want := sent[attrData].(*types.AttributeValueMemberB)
	return bytes.Equal(have.Value, want.Value)
}

// envelopeHeader returns the header of the envelope in item, or zeros when item
// holds none of version 2. It does not authenticate the envelope: a condition on a forged
// header can only make a write replace the forgery.
func envelopeHeader(item map[string]types.AttributeValue) (h envelopeHeaderBytes) {
	data, ok := item[attrData].(*types.AttributeValueMemberB)
	if !ok || len(data.Value) < headerLength+macLength || data.Value[0] != envelopeVersion {
		return h
	}
	copy(h[:], data.Value)
	return h
}

// ownWrite notes a write whose condition failed against the write itself: an earlier attempt
// of the same call, retried by the SDK after its answer was lost, had applied it.
func (s *Store) ownWrite(op string) {
	s.opts.Logger.Debug("dynamostore: own write recognised after a retry", "op", op, "table", s.opts.TableName)
}

// confirm finds out what a failed PutItem or UpdateItem left in the table. sent is the item
// the write sent; prevToken is the token of the envelope it replaced (zero for a create).
func (s *Store) confirm(ctx context.Context, op, key string, sent map[string]types.AttributeValue, prevToken uint64, tries int32, callErr error) error {
	opErr := &OpError{Op: op, Table: s.opts.TableName, Err: callErr}
	if definite(callErr, tries) {
		return s.logged(opErr)
	}
	item, err := s.reread(ctx, key)
	if err != nil {
		opErr.OutcomeUnknown = true
		return s.logged(opErr)
	}
	switch {
	case sameWrite(item, sent):
		s.opts.Logger.Info("dynamostore: write confirmed after an error", "op", op, "table", s.opts.TableName, "error", callErr)
		return nil
	case item == nil && prevToken == 0 && op == "PutItem":
		return s.logged(opErr) // nothing there: the create did not happen
	case item == nil, item[attrMoved] != nil: // deleted, or moved to a new ID
		return errors.Join(ErrSessionGone, s.logged(opErr))
	}
	if st, _, err := s.parseItem(key, item); err == nil && st.header.token() == prevToken && prevToken != 0 {
		return s.logged(opErr) // the item is as it was: the update did not happen
	}
	opErr.OutcomeUnknown = true // someone else's write: ours may have come before it
	return s.logged(opErr)
}

// confirmDelete finds out whether a failed DeleteItem removed the item after all.
func (s *Store) confirmDelete(ctx context.Context, key string, tries int32, callErr error) error {
	opErr := &OpError{Op: "DeleteItem", Table: s.opts.TableName, Err: callErr}
	if definite(callErr, tries) {
		return s.logged(opErr)
	}
	item, err := s.reread(ctx, key)
	switch {
	case err != nil:
		opErr.OutcomeUnknown = true
	case item == nil:
		s.opts.Logger.Info("dynamostore: delete confirmed after an error", "table", s.opts.TableName, "error", callErr)
		return nil
	}
	return s.logged(opErr)
}

// reread reads an item strongly consistent, whatever WithConsistentRead says: the answer
// must include the write in question.
func (s *Store) reread(ctx context.Context, key string) (map[string]types.AttributeValue, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	out, err := s.client.GetItem(ctx, s.getItemInput(key, aws.Bool(true)))
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

func (s *Store) logged(e *OpError) *OpError {
	s.opts.Logger.Warn("dynamostore: DynamoDB call failed", "op", e.Op, "table", e.Table,
		"outcome_unknown", e.OutcomeUnknown, "error", e.Err)
	return e
}

// definite reports errors that prove DynamoDB did not apply the write. The error is that of
// the call's last attempt, so it proves nothing about earlier attempts unless there was only
// one, or it is an answer that every attempt of the same request gets (validation, access
// denied, a missing table). With one attempt, a credentials failure stopped the request before
// it was sent, and an answer other than a 5xx is DynamoDB's refusal. A network error, a
// timeout or a 5xx may follow an applied write. attempts is 0 when the client did not say
// (a DAX client, a fake).
func definite(err error, attempts int32) bool {
	var apiErr smithy.APIError
	var renewal *credcache.Error
	switch {
	case errors.As(err, &apiErr) && deterministicCodes[apiErr.ErrorCode()] && !errors.As(err, &renewal):
		return true
	case attempts != 1:
		return false
	case errors.As(err, &renewal):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &apiErr):
		return !serverError(err)
	}
	return false
}

// deterministicCodes are answers that every attempt of the same request gets.
var deterministicCodes = map[string]bool{
	"ValidationException": true, "AccessDeniedException": true, "ResourceNotFoundException": true,
	"SerializationException": true, "UnknownOperationException": true,
}

// serverError reports a 5xx answer: DynamoDB says the request may or may not have been applied.
func serverError(err error) bool {
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() >= 500 {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode() == "InternalServerError" || apiErr.ErrorCode() == "ServiceUnavailable" || apiErr.ErrorCode() == "InternalFailure")
}

// attempts counts the attempts of one call as the SDK's retry loop makes them (it runs in
// the Finalize step, after the retry middleware), so that a failed write can tell whether an
// earlier attempt may have been applied. Pass its option to the call.
type attempts struct {
	n      atomic.Int32
	unsure atomic.Int32 // attempts that failed without DynamoDB's refusal: they may have been applied
}

func (a *attempts) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Finalize.Add(a, middleware.After)
	})
}

func (a *attempts) ID() string { return "dynamostore.CountAttempts" }

func (a *attempts) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	a.n.Add(1)
	out, md, err := next.HandleFinalize(ctx, in)
	var apiErr smithy.APIError
	if err != nil && (!errors.As(err, &apiErr) || serverError(err)) {
		a.unsure.Add(1) // a network error, a timeout, a 5xx: not a refusal
	}
	return out, md, err
}

// noneApplied reports whether the call is known to have made attempts, each refused by
// DynamoDB (a failed condition, throttling): none of them was applied. A client that does
// not run the SDK's middleware (DAX, a fake) counts none, and so proves nothing.
func (a *attempts) noneApplied() bool { return a.n.Load() > 0 && a.unsure.Load() == 0 }

// retryables is the SDK's own classification, plus the codes of DynamoDB's 5xx answers for
// errors that do not carry their HTTP status (from a DAX client or a fake).
var retryables = retry.IsErrorRetryables(append(append([]retry.IsErrorRetryable{}, retry.DefaultRetryables...),
	retry.RetryableErrorCode{Codes: map[string]struct{}{
		"InternalServerError": {}, "InternalFailure": {}, "ServiceUnavailable": {}, "ThrottlingException": {},
	}}))

// transient reports errors that the same call can overcome later: throttling, 5xx answers,
// network errors and timeouts.
func transient(err error) bool {
	return retryables.IsErrorRetryable(err) == aws.TrueTernary
}

// updateCall is one UpdateItem of update.
type updateCall struct {
	key       string
	keyAttr   map[string]types.AttributeValue
	cond      *string
	values    map[string]types.AttributeValue
	item      map[string]types.AttributeValue // the item as this write leaves it
	prevToken uint64                          // the token of the write it replaces
	once      bool                            // a single attempt: the SDK does not retry it
	touch     bool                            // the same values and lifetime: only the expiry moves
}

// sendUpdate sends u and tells what its answer means. found is another request's write that
// u, without optimistic locking, lost to: with every attempt refused (nothing of u was
// applied), or, for a touch, in any case (the session holds a later write of the same values
// either way).
func (s *Store) sendUpdate(ctx context.Context, u *updateCall, next *sessionState) (found map[string]types.AttributeValue, err error) {
	var tries attempts
	optFns := []func(*dynamodb.Options){tries.option}
	if u.once {
		optFns = append(optFns, singleAttempt)
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.opts.TableName,
		Key:                                 u.keyAttr,
		UpdateExpression:                    s.exprs.updateSet,
		ConditionExpression:                 u.cond,
		ExpressionAttributeNames:            s.exprs.updateNames,
		ExpressionAttributeValues:           u.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, optFns...)
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil, nil
	case !errors.As(err, &failed):
		return nil, s.confirm(ctx, "UpdateItem", u.key, u.item, u.prevToken, tries.n.Load(), err)
	case sameWrite(failed.Item, u.item):
		s.ownWrite("UpdateItem")
		return nil, nil
	case failed.Item == nil, failed.Item[attrMoved] != nil: // deleted, or moved to a new ID
		return nil, ErrSessionGone
	}
	// Tell an expired session from a concurrent write.
	if expires, err := numberAttr(failed.Item, attrExpires); err != nil || expires <= next.written {
		return nil, ErrSessionGone
	}
	if s.opts.OptimisticLocking {
		return nil, s.conflict(next, failed.Item, err)
	}
	// Another request wrote the session. Unless DynamoDB refused every attempt, an earlier
	// one may have been applied before that write.
	if !u.touch && !tries.noneApplied() {
		return nil, s.logged(&OpError{Op: "UpdateItem", Table: s.opts.TableName, OutcomeUnknown: true,
			Err: fmt.Errorf("the session was written by another request, and this write, sent %d times, may have come before: %w", tries.n.Load(), err)})
	}
	return failed.Item, nil
}

// singleAttempt turns off the SDK's retries for one call.
func singleAttempt(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

// conflict is the answer to an update with optimistic locking that found another version.
func (s *Store) conflict(next *sessionState, found map[string]types.AttributeValue, err error) error {
	// A version past the one this write makes may sit on top of this very write, applied by
	// an earlier attempt and then overwritten by another request: that is no proof of a
	// conflict, and reloading to apply the change again could apply it twice.
	if v, verr := numberAttr(found, attrVersion); verr == nil && v > next.version {
		return s.logged(&OpError{Op: "UpdateItem", Table: s.opts.TableName, OutcomeUnknown: true,
			Err: fmt.Errorf("the session was written again after version %d, and this write may have come before: %w", next.version, err)})
	}
	return ErrConflict
}
