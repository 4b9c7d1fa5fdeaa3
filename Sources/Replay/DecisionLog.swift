import Pipelines

// The decision log's reader lives in Pipelines (the worker learns from the same records, issue 14 item 4); replay
// keeps its names.

public typealias LoggedDecision = Pipelines.LoggedDecision
public typealias DecisionParser = Pipelines.DecisionParser
