package postgres

// StartingUp exposes startingUp to the external tests.
var StartingUp = startingUp
