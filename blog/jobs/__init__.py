"""RQ queues, the worker that runs jobs inside an app context, and the cron schedule."""
