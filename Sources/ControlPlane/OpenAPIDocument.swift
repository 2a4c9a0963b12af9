// Generated from openapi.yaml by `make openapi`; do not edit.

/// The OpenAPI document served at GET /openapi.yaml.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: consumerd
  version: 0.1.0
  description: |
    Runs Kafka consumers and lets operators steer them over HTTP.

    A consumer is declared by a JSON spec. consumerd reads its topics in a
    consumer group, decodes and batches the records, writes each batch durably
    to a sink and only then commits the batch's offsets (at-least-once).

    Authentication: `Authorization: Bearer <token>` when the server has API
    tokens (`--api-token-file`, `CONSUMERD_API_TOKEN`). The probes are open;
    `/metrics` is open unless the server runs with `--metrics-auth`. A
    read-only token may only GET and HEAD. Without tokens the server only
    listens on loopback (unless `--insecure-no-auth`).

    Every error is `{"error": {"code": "...", "message": "...", "field": "..."}}`
    with `field` naming the offending request field (dotted, e.g.
    `batch.max_records`, `topics[2]`, `kafka.session.timeout.ms`) or null.
  license:
    name: Apache-2.0
    identifier: Apache-2.0
servers:
  - url: http://127.0.0.1:8080
security:
  - bearerAuth: []
tags:
  - name: consumers
    description: Register and inspect consumers.
  - name: lifecycle
    description: Start, stop, pause, resume and restart consumers.
  - name: operations
    description: Health, metrics and this document.
paths:
  /consumers:
    get:
      tags: [consumers]
      operationId: listConsumers
      summary: List consumers with their status.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "200":
          description: All registered consumers, sorted by name.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerList" }
    post:
      tags: [consumers]
      operationId: createConsumer
      summary: Register a consumer (and start it when `autostart` is true).
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/ConsumerSpec" }
            example:
              name: trades
              topics: [market.trades]
              group_id: consumerd-trades
              format: { type: json }
              batch: { max_records: 1000, max_wait_ms: 1000 }
              sink: { type: file, path: trades.jsonl }
              kafka: { auto.offset.reset: earliest }
              autostart: true
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "201":
          description: Registered. `Location` points at the consumer.
          headers:
            Location:
              schema: { type: string }
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerResource" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "409": { $ref: "#/components/responses/Conflict" }
        "413": { $ref: "#/components/responses/PayloadTooLarge" }
        "415": { $ref: "#/components/responses/UnsupportedMediaType" }
        "500": { $ref: "#/components/responses/InternalError" }
        "503": { $ref: "#/components/responses/ShuttingDown" }
  /consumers/start-all:
    post:
      tags: [lifecycle]
      operationId: startAllConsumers
      summary: Start every consumer.
      parameters:
        - $ref: "#/components/parameters/Wait"
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200": { $ref: "#/components/responses/BulkDone" }
        "202": { $ref: "#/components/responses/BulkAccepted" }
        "207": { $ref: "#/components/responses/BulkPartial" }
        "400": { $ref: "#/components/responses/BadRequest" }
  /consumers/stop-all:
    post:
      tags: [lifecycle]
      operationId: stopAllConsumers
      summary: Stop every consumer gracefully.
      parameters:
        - $ref: "#/components/parameters/Wait"
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200": { $ref: "#/components/responses/BulkDone" }
        "202": { $ref: "#/components/responses/BulkAccepted" }
        "207": { $ref: "#/components/responses/BulkPartial" }
        "400": { $ref: "#/components/responses/BadRequest" }
  /consumers/{name}:
    parameters:
      - $ref: "#/components/parameters/Name"
    get:
      tags: [consumers]
      operationId: getConsumer
      summary: A consumer's spec (secrets masked) and status.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "200":
          description: The consumer.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerResource" }
        "404": { $ref: "#/components/responses/NotFound" }
    put:
      tags: [consumers]
      operationId: putConsumer
      summary: Create or replace a consumer's spec.
      description: |
        Replacing the spec of a running consumer restarts it with the new
        spec; its desired state is kept. Masked secret values (`********`) as
        returned by GET keep the stored secret, so a spec can be read, edited
        and put back.
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/ConsumerSpec" }
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200":
          description: Replaced.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerResource" }
        "201":
          description: Created.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerResource" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "409": { $ref: "#/components/responses/Conflict" }
        "503": { $ref: "#/components/responses/ShuttingDown" }
        "413": { $ref: "#/components/responses/PayloadTooLarge" }
        "415": { $ref: "#/components/responses/UnsupportedMediaType" }
        "500": { $ref: "#/components/responses/InternalError" }
    delete:
      tags: [consumers]
      operationId: deleteConsumer
      summary: Delete a consumer.
      description: |
        A running consumer is stopped gracefully first (its last batch is
        written and committed). The call waits up to `wait` seconds (default
        30) for that; if the consumer is still draining it answers 202 and the
        consumer disappears when done. The spec file is removed at once.
      parameters:
        - $ref: "#/components/parameters/Wait"
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "204":
          description: Deleted.
        "202":
          description: Still draining; it will be removed when stopped.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerStatus" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "404": { $ref: "#/components/responses/NotFound" }
  /consumers/{name}/status:
    parameters:
      - $ref: "#/components/parameters/Name"
    get:
      tags: [consumers]
      operationId: getConsumerStatus
      summary: State, assignment with per-partition offsets and lag, rates, errors.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "200":
          description: The status.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerStatus" }
        "404": { $ref: "#/components/responses/NotFound" }
  /consumers/{name}/offsets:
    parameters:
      - $ref: "#/components/parameters/Name"
    get:
      tags: [consumers]
      operationId: getConsumerOffsets
      summary: Committed offset, position, watermarks and lag of every partition of the consumer's topics.
      description: |
        Asked of the cluster (the group's coordinator and each partition's
        leader), so it answers while the consumer is stopped too. `position`
        is known only while a run is assigned the partition. A pattern
        consumer's topics are known only while it runs.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "200":
          description: The offsets.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerOffsets" }
        "404": { $ref: "#/components/responses/NotFound" }
        "409": { $ref: "#/components/responses/Conflict" }
        "503": { $ref: "#/components/responses/KafkaUnavailable" }
        "504": { $ref: "#/components/responses/KafkaTimeout" }
    patch:
      tags: [consumers]
      operationId: resetConsumerOffsets
      summary: Reset a stopped consumer's offsets (earliest, latest, a timestamp, or per partition).
      description: |
        Only while the consumer is stopped (409 otherwise). The reset is
        resolved to offsets now (`latest` is today's log end, a timestamp is
        looked up with ListOffsets) and kept with the spec as
        `pending_reset`; the consumer's next run, as a member of its own
        group, starts each assigned partition there and commits it through
        the group coordinator before reading anything. Refused (409) for
        sinks that keep their own offsets with the data (PostgreSQL, Redis):
        they resume from the sink's store, which a group reset cannot move.
        Partitions not named in `offsets` keep their committed offsets.
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/OffsetsPatch" }
            examples:
              earliest: { value: { reset_to: earliest } }
              timestamp: { value: { reset_to: { timestamp_ms: 1795450000000 } } }
              offsets: { value: { offsets: [{ topic: trades, partition: 0, offset: 42 }] } }
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200":
          description: The reset is stored; the offsets show it as `pending_offset`.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ConsumerOffsets" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "404": { $ref: "#/components/responses/NotFound" }
        "409": { $ref: "#/components/responses/Conflict" }
        "413": { $ref: "#/components/responses/PayloadTooLarge" }
        "415": { $ref: "#/components/responses/UnsupportedMediaType" }
        "500": { $ref: "#/components/responses/InternalError" }
        "503": { $ref: "#/components/responses/KafkaUnavailable" }
        "504": { $ref: "#/components/responses/KafkaTimeout" }
  /consumers/{name}/dead-letters:
    parameters:
      - $ref: "#/components/parameters/Name"
    get:
      tags: [consumers]
      operationId: listDeadLetters
      summary: Records in the consumer's dead-letter topic, with consumerd's context headers decoded.
      description: |
        Read without a consumer group: nothing is committed and no member
        joins, so looking never moves anything. Pages go per partition
        from `from` (default: the log start); `next` says where the next
        page of each partition not yet read to its end starts.
      parameters:
        - name: partition
          in: query
          required: false
          description: Only this partition of the dead-letter topic.
          schema: { type: integer, minimum: 0, maximum: 2147483647 }
        - name: from
          in: query
          required: false
          description: The first offset to read (per partition).
          schema: { type: integer, minimum: 0 }
        - name: limit
          in: query
          required: false
          schema: { type: integer, minimum: 1, maximum: 1000, default: 100 }
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "200":
          description: One page.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/DeadLetterPage" }
        "404": { $ref: "#/components/responses/NotFound" }
        "409": { $ref: "#/components/responses/Conflict" }
        "503": { $ref: "#/components/responses/KafkaUnavailable" }
        "504": { $ref: "#/components/responses/KafkaTimeout" }
  /consumers/{name}/dead-letters/redrive:
    parameters:
      - $ref: "#/components/parameters/Name"
    post:
      tags: [consumers]
      operationId: redriveDeadLetters
      summary: Send dead letters back to their original topic (or another), each at most once.
      description: |
        Selects dead letters by offset range (both inclusive), partition,
        error type and stage, and produces each, with its original key,
        value and headers plus `consumerd.redriven_from`
        (`<dead-letter topic>/<partition>/<offset>`), through an idempotent
        producer (acks=all). Records already redriven by an earlier call are
        skipped (`already_redriven`): the server remembers them with the
        consumer's spec. Fix the cause first (a spec update, a schema): a
        redriven record that fails again is dead-lettered again, carrying
        `consumerd.redriven_from`.
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/Redrive" }
            examples:
              all: { value: {} }
              range: { value: { partition: 0, from_offset: 10, to_offset: 20, error_type: type_mismatch } }
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200":
          description: What was sent.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/RedriveReport" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "404": { $ref: "#/components/responses/NotFound" }
        "409": { $ref: "#/components/responses/Conflict" }
        "413": { $ref: "#/components/responses/PayloadTooLarge" }
        "415": { $ref: "#/components/responses/UnsupportedMediaType" }
        "500": { $ref: "#/components/responses/InternalError" }
        "503": { $ref: "#/components/responses/KafkaUnavailable" }
        "504": { $ref: "#/components/responses/KafkaTimeout" }
  /consumers/{name}/start:
    parameters:
      - $ref: "#/components/parameters/Name"
      - $ref: "#/components/parameters/Wait"
      - $ref: "#/components/parameters/Instance"
    post:
      tags: [lifecycle]
      operationId: startConsumer
      summary: Start a consumer (resumes a paused one; no-op when running).
      description: Also clears the failure count of a consumer that gave up restarting.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200": { $ref: "#/components/responses/LifecycleDone" }
        "202": { $ref: "#/components/responses/LifecycleAccepted" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "404": { $ref: "#/components/responses/NotFound" }
        "408": { $ref: "#/components/responses/WaitTimeout" }
        "409": { $ref: "#/components/responses/Conflict" }
        "503": { $ref: "#/components/responses/ShuttingDown" }
  /consumers/{name}/stop:
    parameters:
      - $ref: "#/components/parameters/Name"
      - $ref: "#/components/parameters/Wait"
      - $ref: "#/components/parameters/Instance"
    post:
      tags: [lifecycle]
      operationId: stopConsumer
      summary: Stop gracefully; the last batch is written and committed, then the member leaves its group.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200": { $ref: "#/components/responses/LifecycleDone" }
        "202": { $ref: "#/components/responses/LifecycleAccepted" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "404": { $ref: "#/components/responses/NotFound" }
        "408": { $ref: "#/components/responses/WaitTimeout" }
        "409": { $ref: "#/components/responses/Conflict" }
        "503": { $ref: "#/components/responses/ShuttingDown" }
  /consumers/{name}/restart:
    parameters:
      - $ref: "#/components/parameters/Name"
      - $ref: "#/components/parameters/Wait"
      - $ref: "#/components/parameters/Instance"
    post:
      tags: [lifecycle]
      operationId: restartConsumer
      summary: Stop gracefully and start a new run (generation + 1).
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200": { $ref: "#/components/responses/LifecycleDone" }
        "202": { $ref: "#/components/responses/LifecycleAccepted" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "404": { $ref: "#/components/responses/NotFound" }
        "408": { $ref: "#/components/responses/WaitTimeout" }
        "409": { $ref: "#/components/responses/Conflict" }
        "503": { $ref: "#/components/responses/ShuttingDown" }
  /consumers/{name}/pause:
    parameters:
      - $ref: "#/components/parameters/Name"
      - $ref: "#/components/parameters/Wait"
      - $ref: "#/components/parameters/Instance"
    post:
      tags: [lifecycle]
      operationId: pauseConsumer
      summary: Stop fetching; the group membership and assignment stay.
      description: The current batch is written and committed before the pause takes effect. Only an active consumer can be paused.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200": { $ref: "#/components/responses/LifecycleDone" }
        "202": { $ref: "#/components/responses/LifecycleAccepted" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "404": { $ref: "#/components/responses/NotFound" }
        "408": { $ref: "#/components/responses/WaitTimeout" }
        "409": { $ref: "#/components/responses/Conflict" }
        "503": { $ref: "#/components/responses/ShuttingDown" }
  /consumers/{name}/resume:
    parameters:
      - $ref: "#/components/parameters/Name"
      - $ref: "#/components/parameters/Wait"
      - $ref: "#/components/parameters/Instance"
    post:
      tags: [lifecycle]
      operationId: resumeConsumer
      summary: Resume fetching where the consumer paused.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "403": { $ref: "#/components/responses/Forbidden" }
        "200": { $ref: "#/components/responses/LifecycleDone" }
        "202": { $ref: "#/components/responses/LifecycleAccepted" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "404": { $ref: "#/components/responses/NotFound" }
        "408": { $ref: "#/components/responses/WaitTimeout" }
        "409": { $ref: "#/components/responses/Conflict" }
        "503": { $ref: "#/components/responses/ShuttingDown" }
  /:
    get:
      tags: [operations]
      operationId: statusPage
      security:
        - bearerAuth: []
        - basicAuth: []
      summary: A status page for people (HTML, no script, refreshes itself every 5 s).
      description: |
        Consumers with state, health, lag, rates and last error, rendered by
        the server. With API tokens configured a browser logs in with HTTP
        Basic: any user name, a token as the password (a Bearer token works
        too).
      responses:
        "200":
          description: The page.
          content:
            text/html:
              schema: { type: string }
        "401": { $ref: "#/components/responses/Unauthorized" }
  /health:
    get:
      tags: [operations]
      operationId: getHealth
      summary: Health of every consumer (always 200; see /health/ready for a verdict).
      description: |
        A consumer is healthy when it does what the operator asked: one
        stopped on purpose is healthy; one that should run but failed, is
        restarting, has stalled (its poll loop has not come round for 60 s) or
        is stuck starting or stopping is unhealthy. One that runs but holds
        partitions back on a transient error is degraded. `overall_status` is
        `healthy` (all healthy), `unhealthy` (all unhealthy) or `degraded`.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "200":
          description: The summary.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/HealthSummary" }
  /health/live:
    get:
      tags: [operations]
      operationId: getLiveness
      summary: Liveness probe; 503 when the consumer supervisor has stopped running.
      security: []
      responses:
        "200":
          description: Alive.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Probe" }
        "503":
          description: The supervisor has not run for 10 s.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Probe" }
  /health/ready:
    get:
      tags: [operations]
      operationId: getReadiness
      summary: Readiness probe; 503 naming unhealthy consumers, or while shutting down.
      security: []
      responses:
        "200":
          description: Ready.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Probe" }
        "503":
          description: Not ready.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Probe" }
  /metrics:
    get:
      tags: [operations]
      operationId: getMetrics
      summary: Prometheus metrics (text exposition format 0.0.4); open unless the server runs with --metrics-auth.
      security: []  # a token is required only with --metrics-auth
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "200":
          description: Metrics.
          content:
            text/plain:
              schema: { type: string }
  /presets:
    get:
      tags: [operations]
      operationId: listPresets
      summary: The record-path presets a spec can name, with what each fills in.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "200":
          description: Every preset.
          content:
            application/json:
              schema:
                type: object
                required: [presets]
                properties:
                  presets:
                    type: array
                    items: { $ref: "#/components/schemas/Preset" }
  /openapi.yaml:
    get:
      tags: [operations]
      operationId: getOpenAPI
      summary: This document.
      responses:
        "401": { $ref: "#/components/responses/Unauthorized" }
        "200":
          description: The OpenAPI document.
          content:
            application/yaml:
              schema: { type: object }
components:
  securitySchemes:
    bearerAuth:
      type: http
      scheme: bearer
      description: A token from the server's `--api-token-file` or `CONSUMERD_API_TOKEN`.
    basicAuth:
      type: http
      scheme: basic
      description: For a browser on the status page only; any user name, a token as the password.
  parameters:
    Name:
      name: name
      in: path
      required: true
      description: The consumer's name.
      schema:
        type: string
        pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    Wait:
      name: wait
      in: query
      required: false
      description: |
        Seconds to wait (0 < wait <= 300, fractions allowed) until the verb's
        target state is reached. Without it, lifecycle verbs answer at once:
        202 when something changed, 200 when the consumer already was there.
      schema:
        type: number
        exclusiveMinimum: 0
        maximum: 300
    Instance:
      name: instance
      in: query
      required: false
      description: |
        Cluster mode: apply the verb to this instance's member only (pause,
        resume and restart). Without it a verb applies to every instance.
        Outside cluster mode, or for start and stop, it is a 400.
      schema:
        type: string
        maxLength: 64
  responses:
    LifecycleAccepted:
      description: The change was requested; the status shows where the consumer is now.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/ConsumerStatus" }
    LifecycleDone:
      description: The consumer is in the target state (already was, or reached it within `wait`).
      content:
        application/json:
          schema: { $ref: "#/components/schemas/ConsumerStatus" }
    BulkAccepted:
      description: The verb was applied to every consumer.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/BulkResult" }
    BulkDone:
      description: Every consumer reached the target state within `wait`.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/BulkResult" }
    BulkPartial:
      description: Some consumers refused the verb or did not reach the target state; see their `error`.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/BulkResult" }
    BadRequest:
      description: Malformed JSON (`invalid_json`), an invalid spec (`invalid_spec`, with `field`), another invalid request body (`invalid_request`, with `field`), an invalid parameter (`invalid_parameter`) or a path with an encoded NUL or slash (`invalid_path`).
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    Unauthorized:
      description: No token, or one the server does not know (`unauthorized`).
      headers:
        WWW-Authenticate:
          description: '`Bearer realm="consumerd"`, with `error="invalid_token"` for an unknown token.'
          schema: { type: string }
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    Forbidden:
      description: A read-only token on a call that changes something (`forbidden`).
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    NotFound:
      description: No such consumer (`consumer_not_found`) or route (`not_found`).
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    Conflict:
      description: |
        The name exists (`consumer_exists`), another consumer writes to the
        same sink file or the verb does not fit the state (`conflict`), the
        consumer limit is reached (`limit_exceeded`), or the consumer failed
        while the call waited (`consumer_failed`).
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    WaitTimeout:
      description: The target state was not reached within `wait` (`wait_timeout`); the request itself was applied.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    PayloadTooLarge:
      description: The body exceeds the server's limit (1 MiB by default).
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    UnsupportedMediaType:
      description: The body is not `application/json`.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    ShuttingDown:
      description: The server is draining after SIGTERM or SIGINT and refuses lifecycle changes (`shutting_down`).
      headers:
        Retry-After:
          schema: { type: integer }
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    KafkaUnavailable:
      description: The Kafka cluster did not answer an admin request (`kafka_unavailable`), or too many such calls are under way (`busy`).
      headers:
        Retry-After:
          schema: { type: integer }
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    KafkaTimeout:
      description: The Kafka cluster did not answer within the server's limit (`kafka_timeout`).
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
    InternalError:
      description: Something unexpected; details are in the server log, never in the response.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Error" }
  schemas:
    Error:
      type: object
      required: [error]
      properties:
        error:
          type: object
          required: [code, message, field]
          properties:
            code:
              type: string
              example: invalid_spec
            message:
              type: string
              example: batch.max_records must be between 1 and 1000000
            field:
              type: [string, "null"]
              example: batch.max_records
    ConsumerSpec:
      type: object
      additionalProperties: false
      description: |
        Unknown fields are rejected, and so is `null` for any field (leave
        the field out for its default). Exactly one of `topics` and
        `topic_pattern` is required.
      required: [name]
      oneOf:
        - required: [topics]
          not: { required: [topic_pattern] }
        - required: [topic_pattern]
          not: { required: [topics] }
      properties:
        name:
          type: string
          pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
          description: Unique; safe in URLs, file names and metric labels. `start-all` and `stop-all` are reserved.
        description:
          type: string
          maxLength: 1024
        topics:
          type: array
          minItems: 1
          maxItems: 100
          uniqueItems: true
          items:
            type: string
            pattern: "^[A-Za-z0-9._-]{1,249}$"
          description: Topics to subscribe to.
        topic_pattern:
          type: string
          maxLength: 512
          pattern: "^\\^"
          description: A regex subscription starting with `^` (POSIX extended), e.g. `^market\..*`; new matching topics are picked up on metadata refresh.
        group_id:
          type: string
          minLength: 1
          maxLength: 255
          description: Consumer group; defaults to `consumerd-<name>`. Run more consumerd instances with the same spec to spread partitions.
        format:
          type: object
          additionalProperties: false
          properties:
            type:
              type: string
              enum: [json, string, bytes, avro]
              default: json
              description: |
                `json`: values must be JSON (validated strictly). `string`: UTF-8
                text, written as a JSON string. `bytes`: anything, written
                base64. `avro`: Confluent-framed Avro with `schema_registry`, or
                plain Avro datums of `writer_schema`; written as JSON by the
                mapping in the README (unions as plain values, enums as
                symbols, decimals as exact strings, timestamps as ISO-8601 UTC).
                A record that cannot be decoded goes by `on_error.decode`.
            schema_registry:
              type: object
              additionalProperties: false
              required: [url]
              description: Avro only. Writer schemas are fetched by id (`GET /schemas/ids/{id}`), cached per registry for the whole server. An unreachable registry holds the record's partition back and retries (health `degraded`); an id the registry does not know is a permanent decode error.
              properties:
                url: { type: string, pattern: "^https?://", maxLength: 1024 }
                username: { type: string }
                password: { type: string, description: "A secret: masked as ******** in responses and logs." }
            writer_schema:
              description: Avro only, instead of a registry. The Avro schema (JSON) every message was written with.
            reader_schema:
              description: "Avro only. The Avro schema (JSON) records are resolved to (schema evolution: added fields with defaults, removed fields, numeric promotion, enum symbols by name)."
        preset:
          type: string
          enum: [transactions, user-behavior, market-trades, telemetry-metrics, application-logs]
          description: Fills validation, quality, sequence and transforms from the seeds' record shapes (`GET /presets` shows each). The spec's own sections replace the preset's, section by section.
        validation:
          type: object
          additionalProperties: false
          required: [schema]
          description: Checks every record against a JSON Schema (the subset documented in the README).
          properties:
            schema:
              type: object
              description: "JSON Schema keywords: type, properties, required, additionalProperties, items, minItems, maxItems, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern (POSIX extended), format (date-time, date, uuid)."
            on_invalid:
              $ref: "#/components/schemas/RejectionPolicy"
        quality:
          type: object
          additionalProperties: false
          required: [rules]
          description: Data-quality rules, each counted in `consumerd_quality_violations_total{rule}`.
          properties:
            rules:
              type: array
              minItems: 1
              maxItems: 64
              items:
                type: object
                additionalProperties: false
                required: [check, field]
                properties:
                  check: { type: string, enum: [not_null, range, freshness] }
                  field: { type: string, description: "A field path: `a.b[0].c`." }
                  min: { type: number }
                  max: { type: number }
                  max_age_s: { type: number, description: "freshness: the oldest acceptable timestamp, in seconds." }
                  unit: { type: string, enum: [seconds, milliseconds, microseconds], description: "freshness: the unit of numeric timestamps (default milliseconds)." }
                  name: { type: string, description: "The metric label; default `<check>_<field>`." }
            on_violation:
              type: string
              enum: [flag, drop, dead_letter]
              default: flag
              description: "`flag` keeps the record (and, with `flag_field`, lists the violated rules in it)."
            flag_field: { type: string }
        sequence:
          type: object
          additionalProperties: false
          required: [key_field, sequence_field]
          description: Per-key sequence tracking (gaps, duplicates, out of order). Never blocks; shown in the status and metrics.
          properties:
            key_field: { type: string }
            sequence_field: { type: string }
            max_keys: { type: integer, minimum: 1, maximum: 10000000, default: 100000 }
            drop_duplicates: { type: boolean, default: false }
        transforms:
          type: array
          maxItems: 64
          description: Applied in order; see the README for each type and the expression grammar.
          items:
            type: object
            required: [type]
            properties:
              type: { type: string, enum: [compute, add_processing_time, time_parts, rename, project, drop, filter, classify] }
              field: { type: string }
              expression: { type: string, maxLength: 1024 }
              hour_field: { type: string }
              day_of_week_field: { type: string }
              from: { type: string }
              to: { type: string }
              fields: { type: array, items: { type: string } }
              where: { type: object, description: "A condition: {field, op, value} or {all|any: [...]} or {not: {...}}." }
              cases:
                type: array
                items:
                  type: object
                  required: [when, value]
                  properties:
                    when: { type: object }
                    value: {}
              default: {}
        on_error:
          type: object
          additionalProperties: false
          description: What happens to records a stage cannot handle at all.
          properties:
            decode: { $ref: "#/components/schemas/RejectionPolicy" }
            transform: { $ref: "#/components/schemas/RejectionPolicy" }
        dead_letter:
          type: object
          additionalProperties: false
          required: [topic]
          description: |
            Where rejected records go (policy `dead_letter`): the original key,
            value and headers plus `consumerd.original.topic`,
            `consumerd.original.partition`, `consumerd.original.offset`,
            `consumerd.original.timestamp`, `consumerd.consumer`,
            `consumerd.group`, `consumerd.stage`, `consumerd.error.type`,
            `consumerd.error.message`, `consumerd.failed_at` and
            `consumerd.attempts`. Written by an idempotent producer with
            `acks=all`; the source offset is committed only after the write
            is acknowledged. An unreachable topic is retried like a sink
            outage, never skipped.
          properties:
            topic:
              type: string
              maxLength: 249
              description: "`{topic}` stands for the record's source topic, e.g. `{topic}.dlq`."
        retry:
          type: object
          additionalProperties: false
          description: |
            Transient errors (sink, dead-letter topic or Schema Registry
            unavailable, timeouts) are retried with exponential backoff and
            jitter; nothing is committed past a record that waits, the
            consumer stays `running` with health `degraded`.
          properties:
            initial_backoff_ms: { type: integer, minimum: 10, maximum: 600000, default: 200 }
            max_backoff_ms: { type: integer, minimum: 10, maximum: 3600000, default: 30000 }
            max_attempts:
              type: integer
              minimum: 0
              maximum: 1000000
              default: 0
              description: Attempts before `on_exhausted` decides; 0 never gives up.
            on_exhausted:
              type: string
              enum: [keep_retrying, fail]
              default: keep_retrying
              description: "`keep_retrying` goes on at the longest backoff (health unhealthy); `fail` fails the run and the restart policy takes over."
        alerts:
          type: object
          additionalProperties: false
          description: Where this consumer's state and health changes are posted, besides the server's `--alert-webhook`.
          properties:
            webhook:
              type: string
              maxLength: 2048
              description: An http(s) URL; receives the same JSON events as the server-wide webhook.
        batch:
          type: object
          additionalProperties: false
          description: |
            A batch is written when any limit is reached. Without this
            section an iceberg sink sets them from its `commit_interval_ms`
            and `target_file_bytes` (and up to 500,000 records).
          properties:
            max_records:
              type: integer
              minimum: 1
              maximum: 1000000
              default: 1000
            max_wait_ms:
              type: integer
              minimum: 1
              maximum: 300000
              default: 1000
              description: Counted from the batch's first record.
            max_bytes:
              type: integer
              minimum: 1024
              maximum: 67108864
              default: 16777216
              description: Key and value bytes; bounds memory per consumer.
        sink:
          description: |
            Where records go; defaults to a file sink named after the consumer.
            At-least-once sinks (file, stdout, http, kafka at_least_once) write,
            then the consumer commits its offsets. Exactly-once sinks
            (postgresql, redis, iceberg, kafka exactly_once) write the records
            and the offsets in one transaction of their own and resume from
            them.
          oneOf:
            - $ref: "#/components/schemas/FileSink"
            - $ref: "#/components/schemas/StdoutSink"
            - $ref: "#/components/schemas/KafkaSink"
            - $ref: "#/components/schemas/PostgresSink"
            - $ref: "#/components/schemas/HTTPSink"
            - $ref: "#/components/schemas/RedisSink"
            - $ref: "#/components/schemas/IcebergSink"
          discriminator:
            propertyName: type
            mapping:
              file: "#/components/schemas/FileSink"
              stdout: "#/components/schemas/StdoutSink"
              kafka: "#/components/schemas/KafkaSink"
              postgresql: "#/components/schemas/PostgresSink"
              http: "#/components/schemas/HTTPSink"
              redis: "#/components/schemas/RedisSink"
              iceberg: "#/components/schemas/IcebergSink"
        kafka:
          type: object
          maxProperties: 64
          description: |
            Extra librdkafka consumer properties; values may be strings,
            integers or booleans. Allowed: consumer tuning (e.g.
            `auto.offset.reset` (default `earliest`), `session.timeout.ms`,
            `max.poll.interval.ms`, `partition.assignment.strategy`,
            `fetch.*`, `isolation.level`) and SASL credentials
            (`security.protocol`, `sasl.mechanism(s)`, `sasl.username`,
            `sasl.password`). Properties consumerd controls
            (`bootstrap.servers`, `group.id`, `enable.auto.commit`, ...) and
            anything that loads code, runs commands or reads files are refused.
            Values are checked by librdkafka. Buffer sizes are capped
            (`queued.max.messages.kbytes` <= 262144, `fetch.max.bytes` <=
            256 MiB, `max.partition.fetch.bytes` and `fetch.message.max.bytes`
            <= 64 MiB, `queued.min.messages` <= 1000000). Secrets are masked in
            responses.
          additionalProperties:
            oneOf:
              - type: string
                maxLength: 1024
              - type: integer
              - type: boolean
        restart:
          type: object
          additionalProperties: false
          description: What to do when the consumer fails.
          properties:
            policy:
              type: string
              enum: [on_failure, never]
              default: on_failure
            max_restarts:
              type: integer
              minimum: 0
              maximum: 1000
              default: 0
              description: Consecutive failures after which restarts stop; 0 never gives up. A committed batch resets the count.
            initial_backoff_ms:
              type: integer
              minimum: 100
              maximum: 600000
              default: 1000
            max_backoff_ms:
              type: integer
              minimum: 100
              maximum: 3600000
              default: 60000
              description: The backoff doubles per consecutive failure up to this.
        autostart:
          type: boolean
          default: true
          description: Start as soon as it is registered.
    FileSink:
      type: object
      additionalProperties: false
      required: [type]
      description: |
        JSON Lines appended to a file and fsynced before offsets are committed;
        a rotated or deleted file is reopened and the batch written again.
        Each line carries `topic`, `partition`, `offset`, `timestamp`, `key`
        and `value`, so downstream can deduplicate redeliveries.
      example: { type: file, path: trades.jsonl }
      properties:
        type: { const: file }
        path:
          type: string
          maxLength: 255
          pattern: "^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$"
          description: Relative to the server's sink directory (`<data-dir>/sinks`); no `..`, no hidden components, no symbolic links on the way. Default `<name>.jsonl` (responses always show it). Two consumers cannot share a file.
    StdoutSink:
      type: object
      additionalProperties: false
      required: [type]
      description: JSON Lines on the server's standard output; one batch is never interleaved with another.
      example: { type: stdout }
      properties:
        type: { const: stdout }
    KafkaSink:
      type: object
      additionalProperties: false
      required: [type]
      description: |
        Records produced to a topic (fixed, or from a field), keyed by the
        source key or a field, with the source headers. `exactly_once`: a
        transactional producer (`transactional.id` from the consumer and the
        server) writes each batch and the consumer's offsets in one
        transaction. `at_least_once`: idempotent, `acks=all`.
      example: { type: kafka, topic: trades.enriched, delivery: exactly_once }
      properties:
        type: { const: kafka }
        topic: { type: string, maxLength: 249 }
        topic_field: { type: string, description: "A field path; its value names each record's topic." }
        key_field: { type: string, description: "A field path for the key; default the source key." }
        delivery: { type: string, enum: [exactly_once, at_least_once], default: at_least_once }
        bootstrap_servers: { type: string, description: "HOST:PORT[,...]; default the server's cluster." }
        headers: { type: boolean, default: true, description: Copy the source record's headers. }
    PostgresSink:
      type: object
      additionalProperties: false
      required: [type, url, table]
      description: |
        Rows in a PostgreSQL table, exactly once: each batch is one transaction
        of COPY and an upsert of the partitions' next offsets into
        `consumerd_offsets(group_id, topic, partition, next_offset)`; the
        consumer resumes from them, and rows at or below a stored offset are
        never written again. `jsonb` mode: `kafka_topic, kafka_partition,
        kafka_offset, kafka_timestamp, key, value jsonb`. `columns` mode: a
        column per field. Rows PostgreSQL refuses (constraints, types) are
        dead-lettered. Connection loss is retried.
      example: { type: postgresql, url: "postgresql://app:secret@db:5432/market", table: fills, create_table: true }
      properties:
        type: { const: postgresql }
        url:
          type: string
          maxLength: 2048
          description: "`postgresql://user:password@host:port/db[?sslmode=...]`; the password is masked in responses."
        table: { type: string, pattern: "^[A-Za-z_][A-Za-z0-9_]{0,62}(\\.[A-Za-z_][A-Za-z0-9_]{0,62})?$" }
        mode: { type: string, enum: [jsonb, columns], default: jsonb }
        create_table:
          type: boolean
          default: false
          description: Create the table (columns mode, typed from the consumer's validation schema).
        columns:
          type: object
          maxProperties: 256
          description: "Columns mode: column → field path. Default: the table's columns matched to top-level fields by name."
          additionalProperties: { type: string }
    HTTPSink:
      type: object
      additionalProperties: false
      required: [type, url]
      description: |
        Each batch POSTed as JSON Lines (`ndjson`) or one JSON array, with an
        `Idempotency-Key` that is the same on every retry of a batch; 408,
        429, 5xx and connection errors are retried; 400, 413 and 422 make the
        sink post the records one by one and dead-letter those refused alone.
        At least once.
      example: { type: http, url: "https://ingest.example/v1/events", format: ndjson, bearer_token: secret }
      properties:
        type: { const: http }
        url: { type: string, maxLength: 2048 }
        format: { type: string, enum: [ndjson, array], default: ndjson }
        bearer_token: { type: string, maxLength: 4096, description: "Sent as `Authorization: Bearer`; masked in responses." }
        timeout_ms: { type: integer, minimum: 100, maximum: 300000, default: 10000 }
    RedisSink:
      type: object
      additionalProperties: false
      required: [type, url]
      description: |
        Exactly once: each batch is one MULTI/EXEC that also sets the
        partitions' next offsets in the hash `consumerd:offsets:<group>`,
        read under WATCH so nothing past them is written twice. `stream`: XADD
        per record (fields `topic`, `partition`, `offset`, `timestamp`, `key`,
        `value`). `aggregate`: per `key_field` value and `window_s` window a
        hash `<prefix>:<key>:<window start>` with `count` and, for
        `value_field`, `sum`, `min`, `max`, expiring after `ttl_s`.
      example: { type: redis, url: "redis://cache:6379/0", mode: aggregate, key_field: service, value_field: duration_ms, window_s: 60 }
      properties:
        type: { const: redis }
        url: { type: string, maxLength: 2048, description: "`redis://[:password@]host[:port][/db]` or `unix:///path/to/redis.sock`." }
        mode: { type: string, enum: [stream, aggregate], default: stream }
        stream: { type: string, maxLength: 512, description: "Default `consumerd:<consumer>`." }
        stream_field: { type: string }
        max_len: { type: integer, minimum: 1, description: Trim the stream to about this many entries. }
        key_field: { type: string }
        value_field: { type: string }
        window_s: { type: integer, minimum: 1, maximum: 86400, default: 60 }
        ttl_s: { type: integer, minimum: 1, maximum: 31536000, default: 86400 }
        prefix: { type: string, maxLength: 512, description: "Default `consumerd:agg:<consumer>`." }
    IcebergSink:
      type: object
      additionalProperties: false
      required: [type, table]
      description: |
        Exactly once into an Apache Iceberg table (format v2, Parquet data
        files): each batch is one append snapshot whose summary also holds
        the consumer's next offsets (`consumerd.offsets`), and the consumer
        resumes from them. Without a `batch` section the consumer batches by
        `commit_interval_ms` and `target_file_bytes`. Columns come from
        `schema` (a JSON Schema subset) or the consumer's validation schema;
        a record that does not fit them is dead-lettered.
      example: { type: iceberg, table: market.trades, catalog: { type: sql, uri: "sqlite:///iceberg/catalog.db" }, partition_by: [{ field: timestamp, transform: day }] }
      properties:
        type: { const: iceberg }
        table: { type: string, maxLength: 255, description: "`<namespace>.<table>`." }
        catalog:
          type: object
          additionalProperties: false
          required: [type]
          description: |
            `filesystem`: `metadata/vN.metadata.json` and `version-hint.text`
            in the table directory. `sql`: pyiceberg's `SqlCatalog` layout in
            SQLite (a path under the sink directory) or PostgreSQL (password
            masked in responses).
          properties:
            type: { type: string, enum: [filesystem, sql] }
            uri: { type: string, maxLength: 2048, description: "`sqlite:///<relative path>` or `postgresql://...`; sql only." }
            name: { type: string, maxLength: 255, default: default, description: The catalog name pyiceberg is given; sql only. }
        warehouse: { type: string, maxLength: 512, default: warehouse, description: Directory of the tables, under the sink directory. }
        partition_by:
          type: array
          maxItems: 4
          items:
            type: object
            additionalProperties: false
            required: [field, transform]
            properties:
              field: { type: string, description: A top-level column. }
              transform: { type: string, enum: [identity, day, hour] }
        schema:
          type: object
          description: |
            The table's columns as JSON Schema: boolean, integer (`format:
            int32`), number (`format: float` or `decimal` with `precision` and
            `scale`), string (`format`: date, time, date-time, timestamp, uuid;
            `contentEncoding: base64` for binary), object with properties
            (struct); arrays and maps are stored as JSON text. `required`
            makes columns required.
        target_file_bytes: { type: integer, minimum: 1048576, maximum: 536870912, default: 67108864 }
        commit_interval_ms: { type: integer, minimum: 100, maximum: 300000, default: 60000 }
        compression: { type: string, enum: [zstd, uncompressed], default: zstd }
    RejectionPolicy:
      type: string
      enum: [dead_letter, drop, fail]
      description: |
        What a stage does with a record it rejects. `drop` counts it and lets
        its offset advance; `fail` stops the consumer before it (nothing after
        it is committed); `dead_letter` sends it to the dead-letter topic and
        commits its offset once the topic has acknowledged it (a spec with
        `dead_letter` policies must name a `dead_letter.topic`). Unset: `fail`,
        or `dead_letter` when the spec has a dead-letter topic.
    ConsumerResource:
      type: object
      required: [name, spec, status]
      properties:
        name: { type: string }
        spec: { $ref: "#/components/schemas/ConsumerSpec" }
        status: { $ref: "#/components/schemas/ConsumerStatus" }
    ConsumerList:
      type: object
      required: [consumers, count]
      properties:
        consumers:
          type: array
          items: { $ref: "#/components/schemas/ConsumerStatus" }
        count: { type: integer }
    State:
      type: string
      enum: [stopped, starting, running, paused, stopping, failed]
    DesiredState:
      type: string
      enum: [running, paused, stopped]
      description: What the operator asked for; persisted and restored when the server starts.
    ConsumerStatus:
      type: object
      required: [name, state, desired_state, since, generation, deleting, group_id, sink, assignment, lag_total, measured_at, group_lag, brokers, retrying, stats, totals, stages, quality_violations, sequence, rates, last_error, consecutive_failures, restarts, next_restart_at, health]
      properties:
        name: { type: string }
        state: { $ref: "#/components/schemas/State" }
        desired_state: { $ref: "#/components/schemas/DesiredState" }
        since:
          type: string
          format: date-time
          description: When the current state was entered.
        generation:
          type: integer
          description: The run number; each (re)start increases it.
        deleting:
          type: boolean
          description: Draining on its way to deletion.
        group_id: { type: string }
        sink:
          type: object
          required: [type, target]
          properties:
            type: { type: string, enum: [file, stdout, kafka, postgresql, http, redis, iceberg] }
            target:
              type: string
              description: The absolute file path, `stdout`, or the URL (without credentials) and table or topic.
        assignment:
          type: array
          description: Partitions currently assigned to this member.
          items: { $ref: "#/components/schemas/PartitionStatus" }
        lag_total:
          type: [integer, "null"]
          description: Sum of the partitions' lag, null while any is unknown.
        measured_at:
          type: [string, "null"]
          format: date-time
          description: When the run last read positions, watermarks and lag; an old value means the numbers are stale (a broker stall).
        group_lag:
          oneOf:
            - $ref: "#/components/schemas/GroupLag"
            - type: "null"
        brokers:
          type: [object, "null"]
          description: The run's broker connections, from librdkafka's statistics.
          required: [up, known, last_contact, reported_at]
          properties:
            up: { type: integer }
            known: { type: integer }
            last_contact:
              type: [string, "null"]
              format: date-time
              description: The last time a broker answered (statistics, a fetched record or a commit).
            reported_at: { type: string, format: date-time }
        retrying:
          type: [object, "null"]
          description: A transient error being waited out; nothing past it is committed.
          required: [stage, message, waiting, attempts, since, next_attempt_at, exhausted]
          properties:
            stage: { type: string }
            message: { type: string }
            waiting: { type: string, description: "What waits: `batch of 120 records` or `partition t[2] from offset 41`." }
            attempts: { type: integer }
            since: { type: string, format: date-time }
            next_attempt_at: { type: string, format: date-time }
            exhausted: { type: boolean, description: "`max_attempts` reached with `on_exhausted: keep_retrying`." }
        stats:
          allOf:
            - $ref: "#/components/schemas/Stats"
          description: Counters of the current run; they start at zero with each run. Prometheus counters never reset.
        totals:
          allOf:
            - $ref: "#/components/schemas/Stats"
          description: The same counters summed over every run since the server started.
        stages:
          type: array
          description: What each record-path stage did in the current run, decode first.
          items: { $ref: "#/components/schemas/StageCounts" }
        quality_violations:
          type: object
          description: Violations per quality rule in the current run.
          additionalProperties: { type: integer }
        sequence:
          oneOf:
            - $ref: "#/components/schemas/SequenceStatistics"
            - type: "null"
        rates: { $ref: "#/components/schemas/Rates" }
        last_error:
          oneOf:
            - $ref: "#/components/schemas/Failure"
            - type: "null"
        consecutive_failures:
          type: integer
          description: Failed runs since the last committed batch.
        restarts:
          type: integer
          description: Restarts (manual, by policy, after spec updates) since the server started.
        next_restart_at:
          type: [string, "null"]
          format: date-time
          description: When the restart policy will start the consumer again.
        health: { $ref: "#/components/schemas/ConsumerHealth" }
        members:
          type: array
          description: |
            Cluster mode only: each instance's member of the consumer's group as
            it last reported (every health interval), with its partitions.
          items:
            type: object
            required: [instance, state, generation, assignment, updated_at]
            properties:
              instance: { type: string }
              state: { type: string }
              generation: { type: integer }
              assignment:
                type: array
                items:
                  type: object
                  required: [topic, partition, lag]
                  properties:
                    topic: { type: string }
                    partition: { type: integer }
                    lag: { type: [integer, "null"] }
              updated_at: { type: string, format: date-time }
    OffsetsPatch:
      type: object
      additionalProperties: false
      description: Exactly one of `reset_to` and `offsets`.
      oneOf:
        - required: [reset_to]
          not: { required: [offsets] }
        - required: [offsets]
          not: { required: [reset_to] }
      properties:
        reset_to:
          oneOf:
            - type: string
              enum: [earliest, latest]
            - type: object
              additionalProperties: false
              required: [timestamp_ms]
              properties:
                timestamp_ms:
                  type: integer
                  minimum: 0
                  description: The first record at or after this time (milliseconds since the epoch); the log end where none is that late.
        offsets:
          type: array
          minItems: 1
          maxItems: 10000
          items: { $ref: "#/components/schemas/PartitionOffset" }
    PartitionOffset:
      type: object
      additionalProperties: false
      required: [topic, partition, offset]
      properties:
        topic: { type: string }
        partition: { type: integer, minimum: 0 }
        offset:
          type: integer
          minimum: 0
          description: Between the partition's low watermark and its log end.
    ConsumerOffsets:
      type: object
      required: [name, group_id, state, lag_total, partitions, pending_reset]
      properties:
        name: { type: string }
        group_id: { type: string }
        state: { type: string }
        lag_total: { type: integer }
        partitions:
          type: array
          items:
            type: object
            required: [topic, partition, committed_offset, position, low_watermark, high_watermark, lag, pending_offset]
            properties:
              topic: { type: string }
              partition: { type: integer }
              committed_offset:
                type: [integer, "null"]
                description: The group's committed offset (the next record to read); null when nothing is committed.
              position:
                type: [integer, "null"]
                description: The running member's next fetch; null while stopped or not assigned here.
              low_watermark: { type: integer }
              high_watermark: { type: integer }
              lag:
                type: integer
                description: High watermark minus the committed offset (the low watermark when nothing is committed).
              pending_offset:
                type: [integer, "null"]
                description: Where the pending reset starts this partition at the next run.
        pending_reset:
          oneOf:
            - type: "null"
            - type: object
              required: [requested, requested_at, offsets]
              properties:
                requested:
                  type: string
                  example: timestamp 1795450000000
                requested_at: { type: string, format: date-time }
                offsets:
                  type: array
                  description: The partitions the next run has yet to apply it to.
                  items: { $ref: "#/components/schemas/PartitionOffset" }
    EncodedBytes:
      type: object
      required: [data, encoding]
      properties:
        data: { type: string }
        encoding:
          type: string
          enum: [utf8, base64]
          description: The bytes as text when they are UTF-8, else base64.
    DeadLetterPage:
      type: object
      required: [name, topics, count, records, next]
      properties:
        name: { type: string }
        topics: { type: array, items: { type: string } }
        count: { type: integer }
        records:
          type: array
          items: { $ref: "#/components/schemas/DeadLetter" }
        next:
          type: array
          items: { $ref: "#/components/schemas/PartitionOffset" }
    DeadLetter:
      type: object
      required: [topic, partition, offset, timestamp_ms, key, value, headers, stage, error_type, error_message, original, failed_at, attempts, redriven_from]
      properties:
        topic: { type: string }
        partition: { type: integer }
        offset: { type: integer }
        timestamp_ms: { type: [integer, "null"] }
        key:
          oneOf: [{ type: "null" }, { $ref: "#/components/schemas/EncodedBytes" }]
        value:
          oneOf: [{ type: "null" }, { $ref: "#/components/schemas/EncodedBytes" }]
        headers:
          type: array
          description: The record's own headers; consumerd's context headers are the fields below.
          items:
            type: object
            required: [name, value]
            properties:
              name: { type: string }
              value:
                oneOf: [{ type: "null" }, { $ref: "#/components/schemas/EncodedBytes" }]
        stage: { type: [string, "null"], example: validation }
        error_type: { type: [string, "null"], example: type_mismatch }
        error_message: { type: [string, "null"] }
        original:
          oneOf: [{ type: "null" }, { $ref: "#/components/schemas/PartitionOffset" }]
        failed_at: { type: [string, "null"] }
        attempts: { type: [integer, "null"] }
        redriven_from:
          type: [string, "null"]
          description: Set when this record failed again after a redrive.
    Redrive:
      type: object
      additionalProperties: false
      properties:
        partition: { type: integer, minimum: 0 }
        from_offset: { type: integer, minimum: 0, description: "Inclusive." }
        to_offset: { type: integer, minimum: 0, description: "Inclusive; at least from_offset." }
        error_type: { type: string }
        stage: { type: string }
        topic:
          type: string
          description: Send here instead of each record's original topic.
        limit: { type: integer, minimum: 1, maximum: 100000, default: 10000 }
    RedriveReport:
      type: object
      required: [matched, redriven, already_redriven, failed, errors]
      properties:
        matched: { type: integer }
        redriven: { type: integer }
        already_redriven: { type: integer }
        failed: { type: integer }
        errors: { type: array, items: { type: string } }
    PartitionStatus:
      type: object
      required: [topic, partition, committed_offset, position, high_watermark, lag, paused]
      properties:
        topic: { type: string }
        partition: { type: integer }
        committed_offset:
          type: [integer, "null"]
          description: The group's committed offset (the next offset to read).
        position:
          type: [integer, "null"]
          description: The next offset this member will fetch.
        high_watermark:
          type: [integer, "null"]
        lag:
          type: [integer, "null"]
          description: High watermark minus committed offset (or position before the first commit is known).
        paused: { type: boolean }
    Stats:
      type: object
      required: [messages_consumed, records_written, records_dropped, records_dead_lettered, errors, batches, commits, last_batch_at, last_batch_records, last_batch_duration_seconds]
      properties:
        messages_consumed:
          type: integer
          description: Records that reached a disposition (written, dropped) and were committed.
        records_written: { type: integer }
        records_dropped:
          type: integer
          description: Dropped by a stage; their offsets were committed.
        records_dead_lettered:
          type: integer
          description: Acknowledged by the dead-letter topic; their offsets were committed.
        errors: { type: integer }
        batches: { type: integer }
        commits: { type: integer }
        last_batch_at:
          type: [string, "null"]
          format: date-time
        last_batch_records: { type: integer }
        last_batch_duration_seconds:
          type: [number, "null"]
          description: From polling the batch's first record to committing its offsets.
    StageCounts:
      type: object
      required: [stage, in, kept, dropped, dead_lettered, failed, reasons, last_error]
      properties:
        stage: { type: string, enum: [decode, validation, quality, sequence, transform, sink] }
        in: { type: integer }
        kept: { type: integer }
        dropped: { type: integer }
        dead_lettered: { type: integer }
        failed: { type: integer }
        reasons:
          type: object
          description: Per outcome (dropped, dead_lettered, failed), per reason code.
          additionalProperties:
            type: object
            additionalProperties: { type: integer }
        last_error:
          type: [object, "null"]
          required: [reason, message, record, at]
          properties:
            reason: { type: string }
            message: { type: string }
            record: { type: [string, "null"], description: "topic[partition]@offset" }
            at: { type: string, format: date-time }
    SequenceStatistics:
      type: object
      required: [gaps, missing, duplicates, out_of_order, unsequenced, tracked_keys, recent_gaps]
      properties:
        gaps: { type: integer }
        missing: { type: integer, description: Sequence numbers skipped in total. }
        duplicates: { type: integer }
        out_of_order: { type: integer }
        unsequenced: { type: integer, description: Records without a key or an integer sequence number. }
        tracked_keys: { type: integer }
        recent_gaps:
          type: array
          items:
            type: object
            required: [key, expected, received, record, at]
            properties:
              key: { type: string }
              expected: { type: integer }
              received: { type: integer }
              record: { type: string }
              at: { type: string, format: date-time }
    Preset:
      type: object
      required: [name, summary, content]
      properties:
        name: { type: string }
        summary: { type: string }
        content:
          type: object
          description: The spec sections the preset fills.
    Rates:
      type: object
      description: Over the last health interval.
      required: [input_rows_per_second, processed_rows_per_second, processing_ratio]
      properties:
        input_rows_per_second: { type: number }
        processed_rows_per_second: { type: number }
        processing_ratio:
          type: number
          description: processed / input; 1 when idle.
    Failure:
      type: object
      required: [stage, message, at, resolved]
      properties:
        stage:
          type: string
          description: decode, validation, quality, sequence, transform, sink, dead_letter, kafka, commit or internal.
        message: { type: string }
        at: { type: string, format: date-time }
        resolved:
          type: boolean
          description: A batch was committed after it and nothing is being retried.
    GroupLag:
      type: object
      description: |
        The group's lag on every partition of the consumer's topics, owned by
        a member or by none, measured from outside the group every health
        interval (committed offsets against log ends), in the manner of Burrow.
      required: [measured_at, total, partitions, verdict, error]
      properties:
        measured_at: { type: string, format: date-time }
        total: { type: integer }
        partitions:
          type: array
          items:
            type: object
            required: [topic, partition, committed_offset, high_watermark, lag]
            properties:
              topic: { type: string }
              partition: { type: integer }
              committed_offset: { type: [integer, "null"] }
              high_watermark: { type: integer }
              lag: { type: integer }
        verdict:
          type: [string, "null"]
          description: "Over the lag window: `stalled` (records wait, the committed offset does not move: unhealthy) or `falling behind` (lag rose at every sample: degraded)."
        error:
          type: [string, "null"]
          description: Why the last measurement failed (the numbers are from the one before).
    ConsumerHealth:
      type: object
      required: [status, reason, last_check]
      properties:
        status:
          type: string
          enum: [healthy, degraded, unhealthy]
          description: |
            `degraded`: running, but waiting out a transient error (sink,
            dead-letter topic or Schema Registry unavailable), recovering after
            a failed run, no broker reachable for over 10 s, or lag rising
            through the whole window; still ready. `unhealthy`: should run but
            failed, crash-loops (3 failed runs in a row), backs off before a
            restart, retried for over 30 s or past its attempts, stalled (the
            poll loop, or a committed offset that does not move while records
            wait), no broker reachable for over 30 s, or starting without an
            assignment for over 30 s; readiness answers 503 naming it.
        reason:
          type: [string, "null"]
        last_check:
          type: [string, "null"]
          format: date-time
    HealthSummary:
      type: object
      required: [total_consumers, healthy_consumers, degraded_consumers, unhealthy_consumers, overall_status, consumer_details]
      properties:
        total_consumers: { type: integer }
        healthy_consumers: { type: integer }
        degraded_consumers: { type: integer }
        unhealthy_consumers: { type: integer }
        overall_status: { type: string, enum: [healthy, degraded, unhealthy] }
        consumer_details:
          type: object
          additionalProperties:
            type: object
            required: [status, state, desired_state, reason, consecutive_failures, last_check, last_error, metrics]
            properties:
              status: { type: string, enum: [healthy, degraded, unhealthy] }
              state: { $ref: "#/components/schemas/State" }
              desired_state: { $ref: "#/components/schemas/DesiredState" }
              reason:
                type: [string, "null"]
              consecutive_failures: { type: integer }
              last_check:
                type: [string, "null"]
                format: date-time
              last_error:
                oneOf:
                  - $ref: "#/components/schemas/Failure"
                  - type: "null"
              metrics: { $ref: "#/components/schemas/Rates" }
        cluster:
          type: object
          description: Cluster mode only. This instance and the instances it has heard from recently.
          required: [id, instance, instances]
          properties:
            id: { type: string }
            instance: { type: string }
            instances:
              type: array
              items:
                type: object
                required: [instance]
                properties:
                  instance: { type: string }
    Probe:
      type: object
      required: [status]
      properties:
        status: { type: string, enum: [alive, stalled, ready, not_ready] }
        reason: { type: string }
        unhealthy_consumers:
          type: array
          items: { type: string }
    BulkResult:
      type: object
      required: [results]
      properties:
        results:
          type: object
          description: One entry per consumer name.
          additionalProperties:
            type: object
            properties:
              changed: { type: boolean }
              status: { $ref: "#/components/schemas/ConsumerStatus" }
              error:
                type: object
                required: [code, message]
                properties:
                  code: { type: string }
                  message: { type: string }

"""#
}
