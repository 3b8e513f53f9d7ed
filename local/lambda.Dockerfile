# The Lambda python3.12 runtime for `sam local invoke`, made offline (`python -m local sam-invoke`):
# no registry is reached, so AWS's public.ecr.aws/lambda/python image cannot be pulled. The same
# layout where it matters: python3.12 at /var/lang/bin, the runtime interface client, and
# /var/runtime/bootstrap, which the SAM CLI's emulator (aws-lambda-rie, added by SAM) runs.
ARG BASE_IMAGE=openvidu-ha-base:bookworm
FROM ${BASE_IMAGE}
ARG PYTHON_PREFIX
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libssl3 libffi8 libsqlite3-0 libbz2-1.0 liblzma5 zlib1g libreadline8 libncursesw6 libuuid1 \
      libgdbm6 libexpat1 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# The host's python3.12 (built with its prefix baked in: it goes to the same path)
COPY python ${PYTHON_PREFIX}
COPY wheels /tmp/wheels
RUN mkdir -p /var/lang/bin /var/runtime /var/task \
 && ln -s ${PYTHON_PREFIX}/bin/python3.12 /var/lang/bin/python3.12 \
 && ln -s ${PYTHON_PREFIX}/bin/python3.12 /var/lang/bin/python3 \
 && /var/lang/bin/python3.12 -m pip install --no-cache-dir --no-index --find-links /tmp/wheels \
      --target /var/runtime awslambdaric \
 && rm -rf /tmp/wheels
COPY bootstrap /var/runtime/bootstrap
ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime
WORKDIR /var/task
