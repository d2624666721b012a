"""AWS behind small classes: each turns ClientError codes into domain errors in one place."""
