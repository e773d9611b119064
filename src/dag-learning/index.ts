// Public API of the DAG-learning pieces used by the GANF trainer and detector.
export { matrixExp, matrixExpm1, chooseSquarings, acyclicity, type ExpmOptions } from './acyclicity.ts';
export {
  DEFAULT_LAGRANGIAN,
  lagrangianOptions,
  initialLagrangian,
  countStep,
  roundComplete,
  update,
  update as updateLagrangian,
  penalty,
  type LagrangianOptions,
  type LagrangianState,
} from './lagrangian.ts';
export {
  extractDag,
  newDag,
  assertDag,
  topologicalOrder,
  adjacencyFromGraph,
  parentsOf,
  graphToJSON,
  graphFromJSON,
  type DagGraph,
  type DagNodeAttributes,
  type DagEdgeAttributes,
  type SerializedDag,
  type ExtractOptions,
} from './extract.ts';
export { toDot, toGexf } from './graph-export.ts';
export { breakCycles, findCycle, stronglyConnectedComponents, type WeightedEdge } from './cycles.ts';
export { parsePrior, priorFromEdges, reachableWithin, type PriorOptions, type PriorTopology, type PriorFormat, type PriorMode } from './prior.ts';
export { parseEdgeListCsv, parseAdjacencyCsv, type PriorEdge } from './prior-csv.ts';
