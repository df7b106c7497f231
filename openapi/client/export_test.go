package client

// Op is an operation of the client's table, for the spec test.
type Op = operation

// Operations is every operation the client calls.
var Operations = operations

// WSPath is the merchant WebSocket's path.
const WSPath = wsPath
