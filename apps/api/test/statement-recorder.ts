import {
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  PostgresQueryCompiler,
} from 'kysely'

/**
 * Records every statement sent through the Kysely instance the API is given: a real count of
 * round trips, on the real database, without mocking anything. Give the app
 * `{ ...database, db: database.db.withPlugin(recorder) }`.
 */
export class StatementRecorder implements KyselyPlugin {
  readonly statements: string[] = []
  readonly #compiler = new PostgresQueryCompiler()
  transformQuery(args: PluginTransformQueryArgs) {
    this.statements.push(this.#compiler.compileQuery(args.node, args.queryId).sql)
    return args.node
  }
  async transformResult(args: PluginTransformResultArgs) {
    return args.result
  }
  /** The statements recorded since the last call. */
  take(): string[] {
    return this.statements.splice(0)
  }
}
