package dynamostore_test

import (
	"testing"

	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore"
	"github.com/dynamostore/dynamostore/dynamostoretest"
)

func TestSmokeCrossAccount(t *testing.T) {
	ddb := dynamostoretest.Client(t)
	table := dynamostoretest.NewTable(t, ddb)
	x, err := dynamostoretest.StartCrossAccount(dynamostoretest.Endpoint(t), table, dynamostoretest.CrossAccountOptions{})
	require.NoError(t, err)
	defer x.Close()
	ca, client, err := x.Connect()
	require.NoError(t, err)
	store, err := dynamostore.New(client, dynamostore.WithTableName(ca.Table.String()), dynamostore.WithKeyPairs(hashKey1))
	require.NoError(t, err)
	b := newBrowser()
	_, err = b.visit(t, store, func(s *sessions.Session) bool { s.Values["a"] = 1; return true })
	require.NoError(t, err)
	s, err := b.load(t, store)
	require.NoError(t, err)
	require.Equal(t, 1, s.Values["a"])
	t.Logf("%+v %+v %+v", ca.Credentials.Stats(), x.STS.Stats(), x.Gateway.Stats())
}
