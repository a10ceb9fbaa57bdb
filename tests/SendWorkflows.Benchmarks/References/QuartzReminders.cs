using System.Collections.Specialized;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Quartz;
using Quartz.Impl;
using Quartz.Spi;

namespace SendWorkflows.Benchmarks.References;

/// <summary>
/// What a .NET team might build instead of the timer sweep: one Quartz.NET job per reminder in Quartz's
/// ADO.NET job store on SQLite (the same embedded database, the same durability), each job writing the
/// reminder it sends into an outbox table. Measures how fast Quartz fires reminders that are all due.
/// Quartz is given the same parallelism as the sweep (4) and batched trigger acquisition, and its
/// scheduling time is left out: only firing is compared with the sweep.
/// </summary>
public static class QuartzReminders
{
    public sealed record Outcome(TimeSpan Scheduling, TimeSpan Firing, int Fired);

    public static async Task<Outcome> RunAsync(string folder, int reminders)
    {
        var path = Path.Combine(folder, "quartz.db");
        var connectionString = $"Data Source={path}";
        using (var connection = new SqliteConnection(connectionString))
        {
            connection.Open();
            using var schema = connection.CreateCommand();
            schema.CommandText = "PRAGMA journal_mode=WAL;" + Schema;
            schema.ExecuteNonQuery();
        }

        ReminderJob.Open($"Data Source={Path.Combine(folder, "reminders.db")}");
        var properties = new NameValueCollection
        {
            ["quartz.scheduler.instanceName"] = "reminders",
            ["quartz.threadPool.maxConcurrency"] = "4",
            ["quartz.scheduler.batchTriggerAcquisitionMaxCount"] = "100",
            ["quartz.jobStore.type"] = "Quartz.Impl.AdoJobStore.JobStoreTX, Quartz",
            ["quartz.jobStore.driverDelegateType"] = "Quartz.Impl.AdoJobStore.SQLiteDelegate, Quartz",
            ["quartz.jobStore.lockHandler.type"] = "Quartz.Impl.AdoJobStore.UpdateLockRowSemaphore, Quartz",
            ["quartz.jobStore.tablePrefix"] = "QRTZ_",
            ["quartz.jobStore.dataSource"] = "reminders",
            ["quartz.jobStore.misfireThreshold"] = "3600000",
            ["quartz.dataSource.reminders.connectionString"] = connectionString + ";Default Timeout=60",
            ["quartz.dataSource.reminders.provider"] = "SQLite-Microsoft",
            ["quartz.serializer.type"] = typeof(JobDataJson).AssemblyQualifiedName,
        };
        var scheduler = await new StdSchedulerFactory(properties).GetScheduler();
        try
        {
            var clock = Stopwatch.StartNew();
            var due = TimeProvider.System.GetUtcNow().AddSeconds(-1);
            var jobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>();
            for (var i = 0; i < reminders; i++)
            {
                var job = JobBuilder.Create<ReminderJob>().WithIdentity($"not-started-{i}", "reminders")
                    .UsingJobData("enrolment", Guid.NewGuid().ToString()).Build();
                jobs[job] = [TriggerBuilder.Create().WithIdentity($"not-started-{i}", "reminders").StartAt(due).Build()];
                if (jobs.Count == 1_000 || i == reminders - 1)
                {
                    await scheduler.ScheduleJobs(jobs, replace: false);
                    jobs.Clear();
                }
            }

            var scheduling = clock.Elapsed;
            ReminderJob.Reset(reminders);
            clock.Restart();
            await scheduler.Start();
            var fired = await ReminderJob.AllFired.Task.WaitAsync(TimeSpan.FromMinutes(30));
            return new Outcome(scheduling, clock.Elapsed, fired);
        }
        finally
        {
            await scheduler.Shutdown(waitForJobsToComplete: false);
            ReminderJob.Close();
        }
    }

    /// <summary>The reminder itself: the email it would send, written to an outbox table, one commit each.</summary>
    public sealed class ReminderJob : IJob
    {
        private static readonly Lock Writer = new();
        private static SqliteConnection? _connection;
        private static int _remaining;

        public static TaskCompletionSource<int> AllFired { get; private set; } = new();

        private static int _expected;

        public static void Open(string connectionString)
        {
            _connection = new SqliteConnection(connectionString);
            _connection.Open();
            using var setup = _connection.CreateCommand();
            setup.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, enrolment_id TEXT NOT NULL, template TEXT NOT NULL, payload TEXT NOT NULL)";
            setup.ExecuteNonQuery();
        }

        public static void Reset(int expected)
        {
            _expected = expected;
            _remaining = expected;
            AllFired = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public static void Close()
        {
            _connection?.Dispose();
            _connection = null;
            SqliteConnection.ClearAllPools();
        }

        public Task Execute(IJobExecutionContext context)
        {
            var enrolment = context.MergedJobDataMap.GetString("enrolment") ?? "";
            lock (Writer)
            {
                using var insert = _connection!.CreateCommand();
                insert.CommandText = "INSERT INTO outbox (enrolment_id, template, payload) VALUES ($e, 'not-started', $p)";
                insert.Parameters.AddWithValue("$e", enrolment);
                insert.Parameters.AddWithValue("$p", JsonSerializer.Serialize(new { enrolment, template = "not-started" }));
                insert.ExecuteNonQuery();
            }

            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                AllFired.TrySetResult(_expected);
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>Job data as JSON (string values), so the job store needs no binary serialisation.</summary>
    public sealed class JobDataJson : IObjectSerializer
    {
        public void Initialize()
        {
        }

        public byte[] Serialize<T>(T obj) where T : class =>
            obj is JobDataMap map
                ? JsonSerializer.SerializeToUtf8Bytes(map.ToDictionary(e => e.Key, e => e.Value?.ToString()))
                : throw new NotSupportedException($"only job data is stored, not {typeof(T).Name}");

        public T? DeSerialize<T>(byte[] data) where T : class
        {
            var values = JsonSerializer.Deserialize<Dictionary<string, string?>>(data) ?? [];
            var map = new JobDataMap();
            foreach (var (key, value) in values)
            {
                map[key] = value!;
            }

            return map as T;
        }
    }

    /// <summary>Quartz 3's ADO.NET job store tables (its documented schema, column for column), for SQLite.</summary>
    private const string Schema =
        """
        CREATE TABLE qrtz_job_details (sched_name text NOT NULL, job_name text NOT NULL, job_group text NOT NULL, description text,
            job_class_name text NOT NULL, is_durable bit NOT NULL, is_nonconcurrent bit NOT NULL, is_update_data bit NOT NULL,
            requests_recovery bit NOT NULL, job_data blob, PRIMARY KEY (sched_name, job_name, job_group));
        CREATE TABLE qrtz_triggers (sched_name text NOT NULL, trigger_name text NOT NULL, trigger_group text NOT NULL,
            job_name text NOT NULL, job_group text NOT NULL, description text, next_fire_time bigint, prev_fire_time bigint,
            priority integer, trigger_state text NOT NULL, trigger_type text NOT NULL, start_time bigint NOT NULL, end_time bigint,
            calendar_name text, misfire_instr integer, job_data blob, PRIMARY KEY (sched_name, trigger_name, trigger_group));
        CREATE TABLE qrtz_simple_triggers (sched_name text NOT NULL, trigger_name text NOT NULL, trigger_group text NOT NULL,
            repeat_count bigint NOT NULL, repeat_interval bigint NOT NULL, times_triggered bigint NOT NULL,
            PRIMARY KEY (sched_name, trigger_name, trigger_group));
        CREATE TABLE qrtz_simprop_triggers (sched_name text NOT NULL, trigger_name text NOT NULL, trigger_group text NOT NULL,
            str_prop_1 text, str_prop_2 text, str_prop_3 text, int_prop_1 int, int_prop_2 int, long_prop_1 bigint, long_prop_2 bigint,
            dec_prop_1 numeric, dec_prop_2 numeric, bool_prop_1 bit, bool_prop_2 bit, time_zone_id text,
            PRIMARY KEY (sched_name, trigger_name, trigger_group));
        CREATE TABLE qrtz_cron_triggers (sched_name text NOT NULL, trigger_name text NOT NULL, trigger_group text NOT NULL,
            cron_expression text NOT NULL, time_zone_id text, PRIMARY KEY (sched_name, trigger_name, trigger_group));
        CREATE TABLE qrtz_blob_triggers (sched_name text NOT NULL, trigger_name text NOT NULL, trigger_group text NOT NULL,
            blob_data blob, PRIMARY KEY (sched_name, trigger_name, trigger_group));
        CREATE TABLE qrtz_calendars (sched_name text NOT NULL, calendar_name text NOT NULL, calendar blob NOT NULL,
            PRIMARY KEY (sched_name, calendar_name));
        CREATE TABLE qrtz_paused_trigger_grps (sched_name text NOT NULL, trigger_group text NOT NULL, PRIMARY KEY (sched_name, trigger_group));
        CREATE TABLE qrtz_fired_triggers (sched_name text NOT NULL, entry_id text NOT NULL, trigger_name text NOT NULL,
            trigger_group text NOT NULL, instance_name text NOT NULL, fired_time bigint NOT NULL, sched_time bigint NOT NULL,
            priority integer NOT NULL, state text NOT NULL, job_name text, job_group text, is_nonconcurrent bit, requests_recovery bit,
            PRIMARY KEY (sched_name, entry_id));
        CREATE TABLE qrtz_scheduler_state (sched_name text NOT NULL, instance_name text NOT NULL, last_checkin_time bigint NOT NULL,
            checkin_interval bigint NOT NULL, PRIMARY KEY (sched_name, instance_name));
        CREATE TABLE qrtz_locks (sched_name text NOT NULL, lock_name text NOT NULL, PRIMARY KEY (sched_name, lock_name));
        CREATE INDEX ix_qrtz_triggers_next_fire ON qrtz_triggers (sched_name, trigger_state, next_fire_time);
        """;
}
