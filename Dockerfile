# One image for every chungtay service; compose (or the orchestrator) picks the command, e.g.
#   uvicorn --factory services.registration.api:main --host 0.0.0.0 --port 8000
#   python -m chungtay_common.stack ready
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Exact pins first, in their own layer, so code changes do not reinstall the dependencies.
COPY requirements.lock /tmp/requirements.lock
RUN pip install -r /tmp/requirements.lock && rm /tmp/requirements.lock

COPY pyproject.toml /tmp/build/
COPY chungtay_common /tmp/build/chungtay_common
COPY services /tmp/build/services
RUN pip install --no-deps /tmp/build && rm -rf /tmp/build

# A non-root user. chungtay_common.settings.LOCAL_STATE (".local" beside the installed packages)
# is where services keep local files (faust's data folder) and where `stack ready` writes
# development keys: it must be writable by that user.
RUN groupadd --system --gid 10001 chungtay \
    && useradd --system --uid 10001 --gid chungtay --home-dir /srv/chungtay --create-home \
       --shell /usr/sbin/nologin chungtay \
    && install -d -o chungtay -g chungtay \
       "$(cd / && python -c 'from chungtay_common.settings import LOCAL_STATE; print(LOCAL_STATE)')"
WORKDIR /srv/chungtay
USER chungtay:chungtay

# Outside development every secret must be given (see chungtay_common/settings.py).
ENV CHUNGTAY_ENVIRONMENT=production
EXPOSE 8000
CMD ["python", "-c", "raise SystemExit('give a command: see docker-compose.yml')"]
