package dynamostoretest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dynamostore/dynamostore/dynamostoretest"
)

func TestStartLocalKeepsDataInDBPathAndCloseStopsIt(t *testing.T) {
	dynamostoretest.Endpoint(t) // skip or fail (CI) the same way when DynamoDB Local is missing
	dir := t.TempDir()
	ctx := context.Background()

	first, err := dynamostoretest.StartLocal(ctx, dynamostoretest.LocalOptions{DBPath: dir})
	require.NoError(t, err)
	table := dynamostoretest.NewTable(t, dynamostoretest.NewClient(first.Endpoint))
	require.NoError(t, first.Close())
	select {
	case <-first.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("DynamoDB Local still running after Close")
	}
	_, err = dynamostoretest.NewClient(first.Endpoint).ListTables(ctx, &dynamodb.ListTablesInput{})
	assert.Error(t, err, "nothing answers after Close")

	second, err := dynamostoretest.StartLocal(ctx, dynamostoretest.LocalOptions{DBPath: dir})
	require.NoError(t, err)
	defer second.Close()
	out, err := dynamostoretest.NewClient(second.Endpoint).ListTables(ctx, &dynamodb.ListTablesInput{})
	require.NoError(t, err)
	assert.Contains(t, out.TableNames, table, "the table survived the restart")
}

func TestMissingJarIsReported(t *testing.T) {
	_, err := dynamostoretest.StartLocal(context.Background(), dynamostoretest.LocalOptions{Dir: t.TempDir()})
	assert.True(t, errors.Is(err, dynamostoretest.ErrNotInstalled), "got %v", err)
}
