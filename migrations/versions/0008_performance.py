"""issue 8: indexes and summary tables for scale

task_candidates (who a task is offered to, indexed, instead of LIKE over JSON), partial indexes on open
tasks for the inbox, and the daily 766 summary (indicator_days).

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OPEN_UNCLAIMED = "state = 'ready' AND assignee IS NULL"


def upgrade() -> None:
    op.create_table(
        'task_candidates',
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('value', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('task_id', 'kind', 'value'),
    )
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.create_index('ix_task_candidates_kind_value', ['kind', 'value', 'task_id'], unique=False)
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_human_tasks_open_queue', ['due_at', 'created_at', 'id', 'department'], unique=False,
                              postgresql_where=sa.text(OPEN_UNCLAIMED), sqlite_where=sa.text(OPEN_UNCLAIMED))
        batch_op.create_index('ix_human_tasks_open_dept', ['department', 'assignee', 'created_at', 'id'],
                              unique=False, postgresql_where=sa.text("state = 'ready'"),
                              sqlite_where=sa.text("state = 'ready'"))
    _backfill_task_candidates()

    op.create_table(
        'indicator_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('department', sa.String(length=50), nullable=False),
        sa.Column('procedure_code', sa.String(length=50), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default='0') for name in (
            'received', 'received_online', 'received_in_person', 'received_postal', 'resolved', 'digitized',
            'e_result', 'negative_rating', 'timed', 'judged', 'on_time', 'late', 'paid', 'paid_online')),
        sa.Column('paused_hours', sa.Float(), nullable=False, server_default='0'),
        sa.Column('hours', sa.Float(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('day', 'department', 'procedure_code'),
    )
    op.create_table(
        'indicator_meta',
        sa.Column('key', sa.String(length=50), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        # the 766 figures count open dossiers (and the odd one finished before it was received) live
        batch_op.create_index('ix_dossiers_finished', ['finished_at'], unique=False)
        batch_op.create_index('ix_dossiers_live', ['finished_at'], unique=False,
                              postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE))
        # the names of procedures no longer in the catalogue: max(name) per code is one index descent
        batch_op.create_index('ix_dossiers_procedure_name', ['procedure_code', 'procedure_name'], unique=False)
    _open_dossiers_index()
    _name_search_index()
    _backfill_summary()


LIVE = "finished_at IS NULL OR COALESCE(received_at, submitted_at) > finished_at"


OPEN_766_COLUMNS = ('id', 'finished_at', 'received_at', 'submitted_at', 'channel', 'status_code', 'appointment_at',
                    'paused_since', 'fee_state', 'paid_at', 'payment_channel')


def _open_dossiers_index() -> None:
    """The open dossiers with every column the 766 figures read of them: an index-only scan on PostgreSQL."""
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE INDEX ix_dossiers_open_766 ON dossiers (responsible_department, procedure_code) '
                   f"INCLUDE ({', '.join(OPEN_766_COLUMNS)}) WHERE finished_at IS NULL")
    else:
        with op.batch_alter_table('dossiers', schema=None) as batch_op:
            batch_op.create_index('ix_dossiers_open_766', ['responsible_department', 'procedure_code'],
                                  unique=False, sqlite_where=sa.text('finished_at IS NULL'))


def _name_search_index() -> None:
    """PostgreSQL: a trigram index for the applicant-name search (ILIKE '%…%' and prefix), when pg_trgm can be
    created here (contrib; trusted since PostgreSQL 13); else a text_pattern_ops index for prefix search."""
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        savepoint.commit()
    except sa.exc.DBAPIError:
        savepoint.rollback()
        op.execute('CREATE INDEX ix_dossiers_applicant_prefix ON dossiers (lower(applicant_name) text_pattern_ops)')
        return
    op.execute('CREATE INDEX ix_dossiers_applicant_trgm ON dossiers USING gin (applicant_name gin_trgm_ops)')


def _backfill_summary() -> None:
    """Build the 766 summary from the dossiers already there (the figures' own code: one set-based pass).
    Should that fail, the summary stays unbuilt and the figures are counted from scratch, as before."""
    from sqlalchemy.orm import Session

    bind = op.get_bind()
    if bind.execute(sa.text('SELECT COUNT(*) FROM dossiers')).scalar() == 0:
        return  # nothing to summarise: the summary is complete as it is
    session = Session(bind=bind, join_transaction_mode='create_savepoint')
    try:
        from dossiers.indicators import rebuild_summary

        rebuild_summary(session)
        session.commit()  # releases the savepoint; the migration's transaction commits it
    except Exception:  # noqa: BLE001 - an unbuilt summary only costs speed, never a wrong figure
        session.rollback()
        bind.execute(sa.text("INSERT INTO indicator_meta (key, value) VALUES ('unbuilt', 'backfill failed')"))


def _backfill_task_candidates() -> None:
    """Every existing task's candidate groups (other than its own department) and users, set-based."""
    bind = op.get_bind()
    postgres = bind.dialect.name == 'postgresql'
    for kind, column, skip_department in (('group', 'candidate_groups', True), ('user', 'candidate_users', False)):
        if postgres:
            source = (f"jsonb_array_elements_text(CASE WHEN t.{column} LIKE '[%' THEN t.{column}::jsonb "
                      f"ELSE '[]' END) AS e(v)")
            value = 'e.v'
        else:
            source = f"json_each(CASE WHEN json_valid(t.{column}) AND t.{column} LIKE '[%' THEN t.{column} ELSE '[]' END) AS e"
            value = 'e.value'
        department_test = f" AND {value} <> COALESCE(t.department, '')" if skip_department else ''
        op.execute(
            f"INSERT INTO task_candidates (task_id, kind, value) "
            f"SELECT DISTINCT t.id, '{kind}', {value} FROM human_tasks t, {source} "
            f"WHERE {value} IS NOT NULL AND {value} <> ''{department_test}"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_dossiers_applicant_trgm')
        op.execute('DROP INDEX IF EXISTS ix_dossiers_applicant_prefix')
    with op.batch_alter_table('dossiers', schema=None) as batch_op:
        batch_op.drop_index('ix_dossiers_open_766')
        batch_op.drop_index('ix_dossiers_procedure_name')
        batch_op.drop_index('ix_dossiers_live')
        batch_op.drop_index('ix_dossiers_finished')
    op.drop_table('indicator_meta')
    op.drop_table('indicator_days')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_open_dept')
        batch_op.drop_index('ix_human_tasks_open_queue')
    with op.batch_alter_table('task_candidates', schema=None) as batch_op:
        batch_op.drop_index('ix_task_candidates_kind_value')
    op.drop_table('task_candidates')
